"""facetrust predict: faces found and cropped as trained, --box, folders, videos with tracks, bad inputs."""

import json

import cv2
import numpy as np
import pytest
import skimage.data
import torch

import facetrust
from facetrust.cli import main
from facetrust.data.faces import Box, crop_face
from facetrust.faces.track import iou
from facetrust.models import create_model

ASTRONAUT_FACE = Box(170, 50, 110, 120)  # hand-labelled
PATCH = cv2.resize(skimage.data.astronaut()[0:256, 96:352], (96, 96), interpolation=cv2.INTER_AREA)
FACE_IN_PATCH = (49, 42)  # the astronaut's face centre inside PATCH (hand-labelled (226, 112) in the photo)
N_FRAMES = 8


def moving_face_frames(n=N_FRAMES, step=12):
    """240x180 frames with the astronaut's face sliding right ``step`` px per frame; face centres."""
    frames, centres = [], []
    for t in range(n):
        frame = np.full((180, 240, 3), 90, np.uint8)
        x = 8 + step * t
        frame[40:136, x:x + 96] = PATCH
        frames.append(frame)
        centres.append((x + FACE_IN_PATCH[0], 40 + FACE_IN_PATCH[1]))
    return frames, centres


def write_video(path, frames, fourcc="mp4v", fps=10):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def decode_all(path):
    capture, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("resnet8", image_size=64)
    return facetrust.save(model, tmp_path_factory.mktemp("ckpt") / "r8", threshold=0.5, threshold_strategy="fixed:0.5")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    photos = folder / "photos"
    photos.mkdir()
    astronaut = photos / "astronaut.png"
    cv2.imwrite(str(astronaut), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    blank = photos / "wall.png"
    cv2.imwrite(str(blank), np.full((120, 160, 3), 128, np.uint8))
    corrupt = folder / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    frames, centres = moving_face_frames()
    video = write_video(folder / "moving.mp4", frames)
    rng = np.random.default_rng(0)
    full = write_video(folder / "noise.avi", [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(20)],
                       fourcc="MJPG")
    truncated = folder / "truncated.avi"
    data = full.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    return {"astronaut": astronaut, "blank": blank, "photos": photos, "corrupt": corrupt,
            "missing": folder / "nope.png", "video": video, "centres": centres, "truncated": truncated}


def run_json(argv, capsys):
    code = main(argv + ["--json"])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    assert all(isinstance(line, dict) for line in lines)
    return code, lines, captured.err


def test_images_faces_scored_as_cropped(checkpoint, inputs, capsys):
    argv = ["predict", str(checkpoint), str(inputs["astronaut"]), str(inputs["blank"]), str(inputs["corrupt"]),
            str(inputs["missing"]), "--detector", "cascade"]
    code, lines, err = run_json(argv, capsys)
    assert code == 0
    report = lines[-1]
    assert report["type"] == "report" and report["threshold"] == 0.5 and report["detector"] == "cascade"
    results = {r["path"]: r for r in report["results"]}
    astro = results[str(inputs["astronaut"])]
    assert astro["status"] == "ok" and astro["size"] == [512, 512] and len(astro["faces"]) >= 1
    face = astro["faces"][0]
    box = Box(*face["box"])
    assert iou(box, ASTRONAUT_FACE) >= 0.5 and set(face) >= {"box", "detector_score", "landmarks", "score", "decision"}
    image = cv2.cvtColor(cv2.imread(str(inputs["astronaut"])), cv2.COLOR_BGR2RGB)
    predictor = facetrust.load(checkpoint)
    expected = float(predictor.scores([crop_face(image, box, 64, 0.2)])[0])  # default crop, computed here
    assert face["score"] == pytest.approx(expected, abs=1e-4) and astro["score"] == face["score"]
    assert astro["decision"] == face["decision"] == ("live" if expected >= 0.5 else "spoof")
    areas = [f["box"][2] * f["box"][3] for f in astro["faces"]]
    assert areas == sorted(areas, reverse=True)
    wall = results[str(inputs["blank"])]
    assert wall["status"] == "no face" and wall["score"] is None and wall["faces"] == [] and "no face" in wall["message"]
    assert results[str(inputs["corrupt"])]["status"] == "error"
    assert results[str(inputs["missing"])]["message"] == "file not found"  # the path is not repeated
    assert report["summary"] == {"inputs": 4, "ok": 1, "failed": 3, "reasons": {"no face": 1, "error": 2}}
    assert "4 inputs: 1 ok, 3 failed" in err and f"{inputs['missing']}: error: file not found" in err
    # --strict: any failure is a failure; all ok is 0
    assert main(argv + ["--strict"]) == 1
    assert main(["predict", str(checkpoint), str(inputs["astronaut"]), "--detector", "cascade", "--strict"]) == 0
    capsys.readouterr()


def test_box_skips_detection_and_refuses_boxes_outside(checkpoint, inputs, capsys):
    code, lines, _ = run_json(["predict", str(checkpoint), str(inputs["astronaut"]), "--box", "100,40,150,160"], capsys)
    assert code == 0
    face = lines[-1]["results"][0]["faces"]
    image = cv2.cvtColor(cv2.imread(str(inputs["astronaut"])), cv2.COLOR_BGR2RGB)
    expected = float(facetrust.load(checkpoint).scores([crop_face(image, Box(100, 40, 150, 160), 64, 0.2)])[0])
    assert len(face) == 1 and face[0]["box"] == [100, 40, 150, 160] and face[0]["score"] == pytest.approx(expected, abs=1e-4)
    code, lines, err = run_json(["predict", str(checkpoint), str(inputs["astronaut"]), "--box", "400,40,150,160"], capsys)
    assert code == 1 and "lies outside the 512x512 image" in lines[-1]["results"][0]["message"]
    assert main(["predict", str(checkpoint), str(inputs["astronaut"]), "--box", "1,2,3"]) == 2
    assert "expected four numbers x,y,w,h" in capsys.readouterr().err


def test_folder_crops_and_option_errors(checkpoint, inputs, capsys):
    code, lines, _ = run_json(["predict", str(checkpoint), str(inputs["photos"]), "--detector", "cascade"], capsys)
    assert code == 0
    assert [r["path"] for r in lines[-1]["results"]] == [str(inputs["astronaut"]), str(inputs["blank"])]
    # --crops: the images already are face crops: scored whole, as a prepared manifest is
    code, lines, _ = run_json(["predict", str(checkpoint), str(inputs["blank"]), "--crops"], capsys)
    blank = np.full((120, 160, 3), 128, np.uint8)
    assert lines[-1]["results"][0]["score"] == pytest.approx(float(facetrust.load(checkpoint).scores([blank])[0]), abs=1e-6)
    # a video with --box: the box on every frame, no detection; outside the frame: a clear error
    code, lines, _ = run_json(["predict", str(checkpoint), str(inputs["video"]), "--box", "60,40,96,96",
                               "--max-frames", "3", "--min-frames", "1"], capsys)
    frames = [line for line in lines if line["type"] == "frame"]
    assert code == 0 and [f["faces"][0]["box"] for f in frames] == [[60, 40, 96, 96]] * 3
    code, lines, _ = run_json(["predict", str(checkpoint), str(inputs["video"]), "--box", "200,40,96,96"], capsys)
    assert code == 1 and "outside the 240x180 image" in lines[-1]["results"][0]["message"]
    code, lines, _ = run_json(["predict", str(checkpoint), str(inputs["video"]), "--crops"], capsys)
    assert code == 1 and "--crops applies to images" in lines[-1]["results"][0]["message"]
    assert main(["predict", str(checkpoint), str(inputs["blank"]), "--threshold", "1.5"]) == 2
    assert "not a probability" in capsys.readouterr().err
    assert main(["predict", str(checkpoint), str(inputs["video"]), str(inputs["video"]), "--annotate", "x.mp4"]) == 2
    assert main(["predict", str(checkpoint)]) == 2
    capsys.readouterr()


def test_video_annotated_track_follows_the_face(checkpoint, inputs, tmp_path, capsys):
    out = tmp_path / "annotated.mp4"
    code, lines, _ = run_json(["predict", str(checkpoint), str(inputs["video"]), "--detector", "cascade",
                               "--annotate", str(out)], capsys)
    assert code == 0
    frames = [line for line in lines if line["type"] == "frame"]
    record = lines[-1]["results"][0]
    assert len(frames) == N_FRAMES and record["frames_decoded"] == record["frames_expected"] == N_FRAMES
    main_track = record["tracks"][0]
    assert record["status"] == "ok" and record["track_id"] == main_track["track_id"] and main_track["frames"] == N_FRAMES
    for line, (cx, cy) in zip(frames, inputs["centres"], strict=True):
        face = next(f for f in line["faces"] if f["track_id"] == main_track["track_id"])
        x, y, w, h = face["box"]
        assert abs(x + w / 2 - cx) < 10 and abs(y + h / 2 - cy) < 10
    assert record["score"] == pytest.approx(main_track["smoothed_score"])
    annotated = decode_all(out)
    assert len(annotated) == N_FRAMES and annotated[0].shape == (180, 240, 3)
    original = decode_all(inputs["video"])
    x, y, w, h = (int(round(v)) for v in frames[5]["faces"][0]["box"])
    edge = np.abs(annotated[5][y, x + 2:x + w - 2].astype(int) - original[5][y, x + 2:x + w - 2].astype(int))
    assert edge.mean() > 30  # the box is drawn where the face is
    # detection every 3 frames, followed in between: the same single track, still on the path
    code, lines, _ = run_json(["predict", str(checkpoint), str(inputs["video"]), "--detector", "cascade",
                               "--detect-every", "3"], capsys)
    frames = [line for line in lines if line["type"] == "frame"]
    tracked = [(f, c) for line, c in zip(frames, inputs["centres"], strict=True) for f in line["faces"]
               if f["track_id"] == lines[-1]["results"][0]["track_id"]]
    assert len(tracked) == N_FRAMES and [f["detected"] for f, _ in tracked] == [i % 3 == 0 for i in range(N_FRAMES)]
    assert all(abs(f["box"][0] + f["box"][2] / 2 - cx) < 10 for f, (cx, _) in tracked)


def test_bad_streams(checkpoint, inputs, capsys):
    code, lines, err = run_json(["predict", str(checkpoint), str(inputs["truncated"]), "--detector", "cascade"], capsys)
    record = lines[-1]["results"][0]
    assert record["frames_expected"] == 20 and 0 < record["frames_decoded"] < 20
    assert f"stopped after {record['frames_decoded']} of 20 frames" in record["warnings"][0]
    assert record["status"] == "no face" and code == 1 and "stopped after" in err
    code, lines, _ = run_json(["predict", str(checkpoint), str(inputs["video"]), "--detector", "cascade",
                               "--max-frames", "2", "--min-frames", "4"], capsys)
    record = lines[-1]["results"][0]
    assert record["status"] == "too few frames" and record["decision"] is None and "only 2 frame(s)" in record["message"]
    assert record["warnings"] == []  # stopping at --max-frames is not a truncated video
    code, lines, err = run_json(["predict", str(checkpoint), "--camera", "99"], capsys)
    camera = lines[-1]["results"][0]
    assert code == 1 and camera["path"] == "camera 99" and camera["message"].startswith("cannot be opened")
    assert "camera 99: error: cannot be opened" in err and "Traceback" not in err and "WARN" not in err
    broken = inputs["video"].parent / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video")
    code, lines, _ = run_json(["predict", str(checkpoint), str(broken), str(inputs["astronaut"]),
                               "--detector", "cascade"], capsys)
    results = lines[-1]["results"]
    assert code == 0 and results[0]["status"] == "error" and "cannot open this video" in results[0]["message"]
    assert results[1]["status"] == "ok"  # a batch goes on


def test_predict_refuses_a_pickle_checkpoint(tmp_path, inputs, capsys):
    pickle = tmp_path / "model.pth"
    pickle.write_bytes(b"\x80\x04not unpickled")
    assert main(["predict", str(pickle), str(inputs["astronaut"])]) == 2
    assert "never unpickles" in capsys.readouterr().err
