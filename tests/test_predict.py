"""facetrust predict: images and videos scored with the stored threshold; bad files reported, others go on."""

import json

import cv2
import numpy as np
import pytest
import torch

import facetrust
from facetrust.cli import main
from facetrust.models import create_model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("flip_it", clip="clip-tiny").eval()
    model.drop_text_tower()
    return facetrust.save(model, tmp_path_factory.mktemp("ckpt") / "flip", threshold=0.5,
                          threshold_strategy="fixed:0.5")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (48 + 8 * i, 64, 3), dtype=np.uint8) for i in range(2)]
    paths = []
    for i, image in enumerate(images):
        path = folder / f"face{i}.png"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        paths.append(path)
    video = folder / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
    frames = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(6)]
    for frame in frames:
        writer.write(frame)
    writer.release()
    corrupt = folder / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return {"images": paths, "video": video, "corrupt": corrupt, "missing": folder / "nope.png"}


def test_predict_json_scores_match_the_predictor(checkpoint, inputs, capsys):
    argv = ["predict", str(checkpoint), *map(str, inputs["images"]), str(inputs["video"]), str(inputs["corrupt"]),
            str(inputs["missing"]), "--json", "--frames", "3"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["threshold"] == 0.5
    results = {r["path"]: r for r in report["results"]}
    predictor = facetrust.load(checkpoint)
    for path in inputs["images"]:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        expected = float(predictor.scores([image])[0])
        record = results[str(path)]
        assert record["kind"] == "image" and record["score"] == pytest.approx(expected, abs=1e-6)
        assert record["decision"] == ("live" if expected >= 0.5 else "spoof")
    # the video score is the mean of 3 equidistant frames (0, 2, 5 of 6), read here independently
    capture = cv2.VideoCapture(str(inputs["video"]))
    decoded = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        decoded.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    video = results[str(inputs["video"])]
    assert video["kind"] == "video" and video["frames"] == 3
    expected = predictor.scores([decoded[0], decoded[2], decoded[5]]) if len(decoded) == 6 else None
    assert expected is not None and video["score"] == pytest.approx(float(expected.mean()), abs=1e-6)
    assert results[str(inputs["corrupt"])]["kind"] == "error" and "broken.jpg" in results[str(inputs["corrupt"])]["error"]
    assert "not found" in results[str(inputs["missing"])]["error"]


def test_predict_table_and_exit_status(checkpoint, inputs, capsys):
    assert main(["predict", str(checkpoint), str(inputs["images"][0]), "--threshold", "0.0"]) == 0
    out = capsys.readouterr().out
    assert "live" in out and "face0.png" in out
    assert main(["predict", str(checkpoint), str(inputs["corrupt"]), str(inputs["missing"])]) == 1
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "nope.png" in err


def test_predict_refuses_a_pickle_checkpoint(tmp_path, inputs, capsys):
    pickle = tmp_path / "model.pth"
    pickle.write_bytes(b"\x80\x04not unpickled")
    assert main(["predict", str(pickle), str(inputs["images"][0])]) == 2
    assert "never unpickles" in capsys.readouterr().err
