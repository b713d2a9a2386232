"""The crop recorded at training is the crop applied at predict: prepare-videos -> train -> predict, same pixels."""

import json

import cv2
import numpy as np
import pytest
import skimage.data
import torch

import facetrust
from facetrust.cli import main
from facetrust.data.io import read_image
from facetrust.data.video import read_crop_record, read_frames
from facetrust.faces.crop import crop_for_model
from facetrust.pipeline import analyze_image, create_detector, default_detector_name, detector_name_for

PATCH = cv2.resize(skimage.data.astronaut()[0:256, 96:352], (96, 96), interpolation=cv2.INTER_AREA)


def write_video(path, shift):
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (200, 150))
    for t in range(4):
        frame = np.full((150, 200, 3), 80 + 20 * shift, np.uint8)
        x = 10 + 10 * t + 5 * shift
        frame[30:126, x:x + 96] = PATCH
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    layout = [("phone", "train", "live"), ("phone", "train", "spoof/print"), ("phone", "val", "live"),
              ("phone", "val", "spoof/print"), ("webcam", "test", "live"), ("webcam", "test", "spoof/print")]
    for i, (domain, split, label) in enumerate(layout):
        write_video(root / domain / split / label / f"v{i}.mp4", shift=i % 3)
    out = root.parent / "crops"
    assert main(["data", "prepare-videos", str(root), str(out), "--detector", "cascade", "--size", "48",
                 "--margin", "0.3", "--sampling", "uniform:2"]) == 0
    return root, out / "manifest.csv"


def test_prepare_videos_layout_splits_and_crop_record(prepared):
    import pandas as pd

    root, manifest = prepared
    table = pd.read_csv(manifest)
    assert sorted(table["path"])[:2] == ["phone/live/none/v0_f0.png", "phone/live/none/v0_f3.png"]  # not phone/phone/
    assert (manifest.parent / "phone" / "live" / "none" / "v0_f3.png").is_file()
    assert dict(table.groupby("split").size()) == {"test": 4, "train": 4, "val": 4}
    record = read_crop_record(manifest)
    assert record["detector"] == "cascade"
    assert record["crops"] == [{"method": "margin", "margin": 0.3, "size": [48, 48]}]
    summary = json.loads((manifest.parent / "summary.json").read_text())
    assert summary["splits"] == {"test": 4, "train": 4, "val": 4} and summary["faces_found"] == 12


def test_prepare_videos_split_override_and_bad_input(prepared, tmp_path, capsys):
    import pandas as pd

    root, _ = prepared
    out = tmp_path / "eval-set"
    assert main(["data", "prepare-videos", str(root), str(out), "--detector", "cascade", "--size", "32",
                 "--sampling", "uniform:1", "--split", "test"]) == 0
    assert set(pd.read_csv(out / "manifest.csv")["split"]) == {"test"}
    assert "warning: every row" not in capsys.readouterr().err  # asked for
    video = next(root.rglob("*.mp4"))
    assert main(["data", "prepare-videos", str(video), str(tmp_path / "x")]) == 2
    assert "is a video file; prepare-videos takes a manifest" in capsys.readouterr().err


def predict_crop_matches(predictor, root, manifest):
    """The prepared crop of one frame == the crop the predictor makes of that frame; same score."""
    import pandas as pd

    table = pd.read_csv(manifest)
    row = table[table["path"] == "webcam/live/none/v4_f3.png"].iloc[0]
    frame = read_frames(root / "webcam" / "test" / "live" / "v4.mp4", [3])[3]
    box = max(create_detector("cascade").detect(frame), key=lambda b: b.w * b.h)
    training_crop = read_image(manifest.parent / row["path"])
    np.testing.assert_array_equal(crop_for_model(frame, box, predictor.crop), training_crop)
    faces = analyze_image(predictor, frame, detector=create_detector("cascade"))
    assert faces[0].score == pytest.approx(float(predictor.scores([training_crop])[0]), abs=1e-6)


def test_saved_crop_is_the_predict_crop(prepared, tmp_path):
    from facetrust.models import create_model

    root, manifest = prepared
    torch.manual_seed(0)
    folder = facetrust.save(create_model("resnet8", image_size=32), tmp_path / "ckpt", threshold=0.5,
                            crop=read_crop_record(manifest))
    predictor = facetrust.load(folder)
    assert predictor.crop["crops"] == [{"method": "margin", "margin": 0.3, "size": [48, 48]}]
    predict_crop_matches(predictor, root, manifest)
    # the faces are found by the detector the training crops were made with, unless one is asked for
    assert detector_name_for(predictor) == "cascade" and detector_name_for(predictor, "mtcnn") == "mtcnn"
    plain = facetrust.load(facetrust.save(create_model("resnet8", image_size=32), tmp_path / "plain"))
    assert detector_name_for(plain) == default_detector_name()


@pytest.mark.slow
def test_trained_crop_is_the_predict_crop(prepared, tmp_path, capsys):
    root, manifest = prepared
    torch.set_num_threads(1)
    out = tmp_path / "run"
    overrides = [f"data.manifest={manifest}", "train.iterations=2", "train.val_every=2", "train.per_group=1",
                 "train.warmup_iterations=1", "eval.n_bootstrap=0", "trainer.progress_bar=false",
                 "protocol.targets=[webcam]", "data.cache_images=false"]
    args = ["train", "configs/demo/flip_it_tiny.yaml", "--out", str(out)]
    for item in overrides:
        args += ["--set", item]
    assert main(args) == 0
    capsys.readouterr()
    checkpoint = next(out.rglob("checkpoint"))
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["crop"]["crops"] == read_crop_record(manifest)["crops"]
    predict_crop_matches(facetrust.load(checkpoint), root, manifest)
