import json

import cv2
import numpy as np
import pandas as pd
import pytest
import skimage.data

from facetrust.data import read_image, read_manifest
from facetrust.data.faces import Box, create_detector, crop_face
from facetrust.data.video import frame_indices, prepare_videos
from facetrust.errors import DataError


def _write_video(path, frames):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def _brightness_video(path, n=20, size=(48, 64)):
    # frame i is a flat grey of level 10 + 10 i: the crop's mean tells which frame came out
    _write_video(path, [np.full((*size, 3), 10 + 10 * i, np.uint8) for i in range(n)])


def _video_manifest(rows):
    base = {"label": 1, "domain": "d", "split": "train", "subject_id": "s", "attack_type": "none"}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_sampling_rules():
    assert frame_indices(20, "flip") == [6, 16]  # FLIP: frame 6 and 6 + floor(20 / 2)
    assert frame_indices(21, "flip") == [6, 16]
    assert frame_indices(5, "flip") == [4]  # short video: clamped to the last frame
    assert frame_indices(20, "uniform:5") == [0, 5, 10, 14, 19]  # round(linspace(0, 19, 5))
    assert frame_indices(3, "uniform:10") == [0, 1, 2]
    assert frame_indices(4, "all") == [0, 1, 2, 3]
    with pytest.raises(DataError, match="sampling rule"):
        frame_indices(10, "every-other")


@pytest.mark.parametrize("rule,expected", [("flip", [6, 16]), ("uniform:3", [0, 10, 19])])
def test_prepare_videos_takes_the_right_frames(tmp_path, rule, expected):
    _brightness_video(tmp_path / "v.avi")
    videos = _video_manifest([{"path": str(tmp_path / "v.avi"), "video_id": "vid0"}])
    manifest, summary = prepare_videos(videos, tmp_path / "out", sampling=rule, detector=None, size=32)
    df = read_manifest(manifest)
    assert df["frame"].tolist() == expected
    levels = [read_image(p).mean() for p in df["abs_path"]]
    np.testing.assert_allclose(levels, [10 + 10 * i for i in expected], atol=4)  # MJPG is lossy
    assert summary.frames_written == len(expected) and summary.videos_ok == 1
    assert (df["video_id"] == "vid0").all() and read_image(df["abs_path"][0]).shape == (32, 32, 3)


def test_bad_video_is_recorded_and_others_go_on(tmp_path):
    _brightness_video(tmp_path / "good.avi")
    (tmp_path / "bad.avi").write_text("not a video")
    videos = _video_manifest([{"path": str(tmp_path / "bad.avi"), "video_id": "bad"},
                              {"path": str(tmp_path / "good.avi"), "video_id": "good"}])
    manifest, summary = prepare_videos(videos, tmp_path / "out", sampling="all", detector=None, size=16)
    assert summary.videos_ok == 1 and len(summary.failed) == 1
    assert "bad.avi" in summary.failed[0]["video"]
    assert len(read_manifest(manifest)) == 20
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["videos_failed"] == 1


def test_default_detector_finds_the_astronaut_face():
    boxes = create_detector().detect(skimage.data.astronaut())
    assert boxes
    best = boxes[0]
    cx, cy = best.x + best.w / 2, best.y + best.h / 2
    # Eileen Collins' face lies around columns 175-275, rows 60-165 of the 512 x 512 photo
    assert 180 < cx < 270 and 65 < cy < 160 and 60 < best.w < 160
    assert create_detector().detect(np.full((200, 200, 3), 128, np.uint8)) == []


def test_no_face_policies_are_counted(tmp_path):
    face = cv2.resize(skimage.data.astronaut(), (256, 256))
    blank = np.full_like(face, 90)
    _write_video(tmp_path / "v.avi", [face, blank, blank])
    videos = _video_manifest([{"path": str(tmp_path / "v.avi"), "video_id": "v"}])
    for policy, written in (("skip", 1), ("previous", 3), ("centre", 3)):
        manifest, summary = prepare_videos(videos, tmp_path / policy, sampling="all", size=32, no_face=policy)
        assert summary.faces_found == 1, policy
        assert summary.no_face[policy] == 2 and summary.frames_written == written
    # "previous" reuses the face box: the crop of a blank frame is blank, but the first crop is the face
    df = read_manifest(tmp_path / "previous" / "manifest.csv")
    assert read_image(df["abs_path"][0]).std() > 20 and read_image(df["abs_path"][1]).std() < 8


def test_crop_face_margin_and_padding():
    image = np.zeros((100, 100, 3), np.uint8)
    image[40:60, 40:60] = 255
    crop = crop_face(image, Box(40, 40, 20, 20), size=40, margin=0.5)  # side 40 around the square
    assert crop.shape == (40, 40, 3)
    assert crop[20, 20].min() == 255 and crop[2, 2].max() == 0
    assert crop[10:30, 10:30].min() == 255  # the box fills the middle half
    edge = crop_face(image, Box(-10, -10, 30, 30), size=20, margin=0.0)  # off the image: replicated
    assert edge.shape == (20, 20, 3)


def test_unknown_detector_and_missing_yunet_model():
    with pytest.raises(DataError, match="unknown face detector"):
        create_detector("retinaface")  # not one of ours
    with pytest.raises(DataError, match="yunet.*ONNX"):
        create_detector("yunet")


def test_dlib_missing_is_a_clear_error():
    import importlib.util

    if importlib.util.find_spec("dlib") is not None:
        pytest.skip("dlib is installed: the missing-package error cannot be shown")
    with pytest.raises(DataError, match="dlib-bin|facetrust\\[dlib\\]"):
        create_detector("dlib")


def test_dlib_detector_finds_the_astronaut():
    pytest.importorskip("dlib", reason="pip install 'facetrust[dlib]'")
    boxes = create_detector("dlib").detect(skimage.data.astronaut())
    assert boxes and 180 < boxes[0].x + boxes[0].w / 2 < 270
