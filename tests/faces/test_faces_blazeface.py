"""BlazeFace short range run by OpenCV: anchors from MediaPipe's spec, decoding, weighted NMS, and the
whole detector against MediaPipe's own output (tests/faces/data, made by make_mediapipe_reference.py)."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from facetrust.errors import DataError
from facetrust.faces import create_detector
from facetrust.faces.blazeface import contract_landmarks, decode, ssd_anchors, weighted_nms
from facetrust.faces.fetch import MODEL_FILES, fetch_model, model_path

MEDIAPIPE = json.loads((Path(__file__).parent / "data" / "mediapipe_blazeface_reference.json").read_text())


@pytest.fixture(scope="module")
def blazeface():
    return create_detector("blazeface")


def test_anchors_follow_mediapipe_short_range_options():
    anchors = ssd_anchors()
    assert anchors.shape == (896, 2)  # 16*16*2 + 8*8*6
    # stride 8: a 16 x 16 grid, 2 anchors per cell, row-major, centres at (i + 0.5) / 16
    np.testing.assert_allclose(anchors[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(anchors[2 * 16], [0.5 / 16, 1.5 / 16])  # next row
    np.testing.assert_allclose(anchors[511], [15.5 / 16, 15.5 / 16])
    # strides 16, 16, 16 share an 8 x 8 grid with 6 anchors per cell
    np.testing.assert_allclose(anchors[512:518], [[0.5 / 8, 0.5 / 8]] * 6)
    np.testing.assert_allclose(anchors[518], [1.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(anchors[-1], [7.5 / 8, 7.5 / 8])


def test_decode_one_anchor_by_hand():
    anchors = ssd_anchors()
    regressors = np.zeros((896, 16))
    logits = np.full(896, -10.0)
    regressors[100] = [12.8, -6.4, 32, 64] + [1.28 * k for k in range(12)]  # x, y, w, h, 6 keypoints
    logits[100] = 2.0
    boxes, keypoints, scores = decode(regressors, logits, anchors)
    cx, cy = anchors[100] + (0.1, -0.05)  # 12.8 / 128, -6.4 / 128
    np.testing.assert_allclose(boxes, [[cx - 0.125, cy - 0.25, cx + 0.125, cy + 0.25]])
    np.testing.assert_allclose(keypoints[0, 2], anchors[100] + (0.04, 0.05))  # keypoint 2 = values 8, 9
    np.testing.assert_allclose(scores, [1 / (1 + np.exp(-2.0))])


def test_weighted_nms_averages_the_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)
    keypoints = np.arange(3 * 6 * 2, dtype=float).reshape(3, 6, 2)
    scores = np.array([0.6, 0.9, 0.7])
    kept = weighted_nms(boxes, keypoints, scores, iou_threshold=0.3)
    assert [s for _, _, s in kept] == [0.9, 0.7]
    np.testing.assert_allclose(kept[0][0], (0.9 * boxes[1] + 0.6 * boxes[0]) / 1.5)
    np.testing.assert_allclose(kept[0][1], (0.9 * keypoints[1] + 0.6 * keypoints[0]) / 1.5)
    np.testing.assert_allclose(kept[1][0], boxes[2])


def test_mouth_corners_are_estimated_from_the_mouth_centre():
    keypoints = np.array([[60, 40], [20, 40], [40, 60], [40, 80], [5, 50], [75, 50]], float)  # right eye first
    points = contract_landmarks(keypoints)
    np.testing.assert_allclose(points, [[20, 40], [60, 40], [40, 60], [40 - 0.414 * 40, 80], [40 + 0.414 * 40, 80]])


def _mediapipe_inputs(upright_photos=None):
    images = {"astronaut": skimage.data.astronaut()}
    if upright_photos:
        images.update({name[:-4]: image for name, image in upright_photos.items()})
    return images


def _check_against_mediapipe(blazeface, images):
    for name, image in images.items():
        ours, theirs = blazeface.detect(image), MEDIAPIPE["images"][name]
        assert len(ours) == len(theirs) == 1, name
        box, reference = ours[0], theirs[0]
        np.testing.assert_allclose([box.x, box.y, box.w, box.h], reference["box_xywh"], atol=0.01, err_msg=name)
        assert box.score == pytest.approx(reference["score"], abs=1e-4)
        keypoints = np.array(reference["keypoints"])  # MediaPipe's 6 keypoints -> our 5 landmarks
        expected = contract_landmarks(keypoints)
        corners = (box.x, box.y), (box.x + box.w, box.y + box.h)
        expected[3:] = np.clip(expected[3:], *corners)
        np.testing.assert_allclose(box.landmarks, expected, atol=0.01, err_msg=name)


def test_detections_match_mediapipe_on_the_astronaut(blazeface):
    _check_against_mediapipe(blazeface, _mediapipe_inputs())


def test_detections_match_mediapipe_on_the_shared_photos(blazeface, upright_photos):
    _check_against_mediapipe(blazeface, _mediapipe_inputs(upright_photos))


def test_missing_model_file_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("FACETRUST_HOME", str(tmp_path))
    with pytest.raises(DataError, match="run `facetrust models fetch blazeface`"):
        create_detector("blazeface")
    with pytest.raises(DataError, match="model file .*nothing.tflite not found"):
        create_detector("blazeface", model=tmp_path / "nothing.tflite")


def test_fetch_from_a_wheel_checks_the_sha256(tmp_path, monkeypatch):
    spec = MODEL_FILES["blazeface"]
    good = model_path("blazeface").read_bytes()  # the installed copy (make install fetched it)
    monkeypatch.setenv("FACETRUST_HOME", str(tmp_path / "home"))
    wheel = tmp_path / "mediapipe-0.10.21-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(spec.member, good)
    path = fetch_model("blazeface", source=wheel)
    assert path == tmp_path / "home" / "models" / spec.filename and path.read_bytes() == good
    assert model_path("blazeface") == path
    path.write_bytes(good[:-1])  # altered in the cache
    with pytest.raises(DataError, match="expected SHA-256"):
        model_path("blazeface")
    bad_wheel = tmp_path / "bad.whl"
    with zipfile.ZipFile(bad_wheel, "w") as archive:
        archive.writestr(spec.member, good[:-1])
    with pytest.raises(DataError, match="SHA-256 of the blazeface file is"):
        fetch_model("blazeface", source=bad_wheel)
    with pytest.raises(DataError, match="has no mediapipe/modules"):
        with zipfile.ZipFile(bad_wheel, "w") as archive:
            archive.writestr("other.txt", "x")
        fetch_model("blazeface", source=bad_wheel)


def test_models_fetch_command_and_listing_still_work(tmp_path, monkeypatch, capsys):
    from facetrust.cli import main

    installed = model_path("blazeface")
    monkeypatch.setenv("FACETRUST_HOME", str(tmp_path))
    assert main(["models", "fetch", "blazeface", "--from", str(installed)]) == 0
    assert (tmp_path / "models" / MODEL_FILES["blazeface"].filename).is_file()
    assert main(["models", "resnet*"]) == 0
    assert "resnet8" in capsys.readouterr().out
    assert main(["models", "fetch", "nonesuch"]) == 2
