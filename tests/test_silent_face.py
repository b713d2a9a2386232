"""Silent-Face-Anti-Spoofing's MiniFASNets imported into facetrust reproduce the original code's outputs
(../shared/real/silent-face/reference.json): the 80x80 patches pixel for pixel from image + box, each
model's logits within 1e-4, the fused decision; the ONNX export keeps parity; predict decides the photos.
The fusion arithmetic and the importer's errors are checked without the shared files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import facetrust
from facetrust.cli import main
from facetrust.data.faces import Box
from facetrust.errors import CheckpointError
from facetrust.faces.crop import crop_for_model
from facetrust.predictor import preprocess_images

SILENT_FACE = Path(__file__).resolve().parents[1] / ".." / "shared" / "real" / "silent-face"
WEIGHTS = ("2.7_80x80_MiniFASNetV2.pth", "4_0_0_80x80_MiniFASNetV1SE.pth")
PHOTOS = ("image_T1.jpg", "image_F1.jpg", "image_F2.jpg")


@pytest.fixture(scope="module")
def reference() -> dict:
    path = SILENT_FACE / "reference.json"
    if not path.is_file() or not all((SILENT_FACE / "weights" / w).is_file() for w in WEIGHTS):
        pytest.skip(f"Silent-Face reference files not found at {SILENT_FACE.resolve()} (../shared/real/silent-face)")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def photos(reference) -> dict:
    from facetrust.data.io import read_image

    return {name: read_image(SILENT_FACE / name) for name in PHOTOS}  # upright: EXIF orientation 6 applied


@pytest.fixture(scope="module")
def imported(reference, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("silent_face") / "ckpt"
    # Given in the "wrong" order on purpose: members are ordered by crop scale.
    assert main(["import", "silent-face", *(str(SILENT_FACE / "weights" / w) for w in reversed(WEIGHTS)),
                 "--out", str(out)]) == 0
    return out


def _bgr_png(name: str) -> np.ndarray:
    import cv2

    return cv2.imread(str(SILENT_FACE / name), cv2.IMREAD_UNCHANGED)


def test_imported_checkpoint_records_crops_input_convention_and_rule(imported):
    config = facetrust.checkpoint.read_config(imported)
    assert config["architecture"] == {"name": "silent_face_fusion",
                                      "kwargs": {"members": ["MiniFASNetV2", "MiniFASNetV1SE"], "image_size": 80}}
    assert config["crop"] == {"detector": "mtcnn", "crops": [
        {"method": "scale", "scale": 2.7, "size": [80, 80]}, {"method": "scale", "scale": 4.0, "size": [80, 80]}]}
    assert config["preprocess"] == {"input_size": [6, 80, 80], "mean": [0.0] * 6, "std": [1.0] * 6,
                                    "channel_order": "bgr", "pixel_scale": 1.0}
    assert config["class_names"] == ["attack", "bona fide"]
    assert config["threshold"] == 0.5 and "not calibrated" in config["threshold_strategy"]
    extra = config["extra"]["silent_face"]
    assert extra["classes"] == {"0": "2D attack", "1": "real", "2": "3D attack"} and extra["real_class"] == 1
    assert [m["sha256"][:12] for m in extra["members"]] == ["a5eb02e1843f", "84ee1d37d968"]
    assert config["metadata"]["licence"] == "Apache-2.0"


@pytest.mark.parametrize("photo", PHOTOS)
def test_patches_from_image_and_box_equal_the_reference_pngs(reference, photos, photo):
    info = reference["images"][photo]
    image = photos[photo]
    assert list(image.shape[:2]) == info["oriented_size_hw"]
    box = Box(*info["face_box_xywh"])
    for model in info["models"].values():
        crop = {"crops": [{"method": "scale", "scale": model["scale"], "size": [80, 80]}]}
        patch_bgr = crop_for_model(image, box, crop)[..., ::-1]
        assert np.array_equal(patch_bgr, _bgr_png(model["patch_png_bgr"])), (photo, model["scale"])


@pytest.mark.parametrize("photo", PHOTOS)
def test_member_logits_and_fused_decision_match_the_original_code(reference, photos, imported, photo):
    info = reference["images"][photo]
    model = facetrust.checkpoint.load_model(imported)
    predictor = facetrust.load(imported)
    stacked = crop_for_model(photos[photo], Box(*info["face_box_xywh"]), predictor.crop)
    batch = torch.from_numpy(preprocess_images([stacked], model.preprocess))
    with torch.inference_mode():
        members = [z[0].numpy() for z in model.member_logits(batch)]
        fused_log_probs = model.class_log_probs(batch)[0].numpy()
    for logits, weights in zip(members, WEIGHTS, strict=True):
        expected = info["models"][weights]
        assert np.abs(logits - np.array(expected["logits"])).max() < 1e-4, (photo, weights)
        assert np.allclose(np.exp(logits) / np.exp(logits).sum(), expected["softmax"], atol=1e-5)
    assert int(np.argmax(fused_log_probs)) == info["fused"]["label"]
    score = float(predictor.score_faces(photos[photo], [Box(*info["face_box_xywh"])])[0])
    assert score == pytest.approx(info["fused"]["p_real"], abs=1e-5)
    assert bool(predictor.decide(np.array([score]))[0]) == (info["fused"]["name"] == "real")


def test_onnx_export_keeps_parity_on_the_photos(reference, photos, imported, tmp_path, capsys):
    # TorchScript exporter: 3x faster here than the default dynamo one, which was checked by hand
    # (parity 2.4e-6); the export itself checks parity on random stacked crops.
    assert main(["export", str(imported), "--out", str(tmp_path / "onnx"), "--exporter", "torchscript"]) == 0
    assert "parity" in capsys.readouterr().out
    onnx_predictor, torch_predictor = facetrust.load(tmp_path / "onnx"), facetrust.load(imported)
    assert type(onnx_predictor).__name__ == "OnnxPredictor" and onnx_predictor.crop == torch_predictor.crop
    for photo in PHOTOS:
        box = Box(*reference["images"][photo]["face_box_xywh"])
        stacked = crop_for_model(photos[photo], box, onnx_predictor.crop)
        batch = preprocess_images([stacked], onnx_predictor.preprocess)
        assert np.abs(onnx_predictor.logits(batch) - torch_predictor.logits(batch)).max() < 1e-4
        assert onnx_predictor.score_faces(photos[photo], [box])[0] == pytest.approx(
            reference["images"][photo]["fused"]["p_real"], abs=1e-5)


def test_predict_cli_finds_one_face_per_photo_and_decides_them(reference, imported, capsys):
    paths = [str(SILENT_FACE / p) for p in PHOTOS]
    main(["predict", str(imported), *paths, "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    report = next(line for line in lines if line.get("type") == "report")
    results = {Path(r["path"]).name: r for r in report["results"]}
    expected = {"image_T1.jpg": "live", "image_F1.jpg": "spoof", "image_F2.jpg": "spoof"}
    for photo, decision in expected.items():
        record = results[photo]
        assert len(record["faces"]) == 1, photo
        face = record["faces"][0]
        assert face["decision"] == record["decision"] == decision, photo
        assert face["score"] == record["score"]
        x, y, w, h = face["box"]
        rx, ry, rw, rh = reference["images"][photo]["face_box_xywh"]  # MTCNN's box, the reference's detector
        inter = max(0, min(x + w, rx + rw) - max(x, rx)) * max(0, min(y + h, ry + rh) - max(y, ry))
        assert inter / (w * h + rw * rh - inter) > 0.9, photo


# ---- without the shared files ----

def test_fusion_is_the_mean_of_member_softmax_folded_to_two_classes():
    torch.manual_seed(0)
    model = facetrust.create_model("silent_face_fusion").eval()
    for module in model.modules():  # non-trivial BN statistics so members disagree
        if isinstance(module, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    x = torch.rand(4, 6, 80, 80) * 255
    with torch.inference_mode():
        members = [z.double().numpy() for z in model.member_logits(x)]
        logits = model(x).double().numpy()
    probs = [np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)
             for z in members]
    mean = (probs[0] + probs[1]) / 2
    two = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert np.allclose(two[:, 1], mean[:, 1], atol=1e-6) and np.allclose(two[:, 0], mean[:, 0] + mean[:, 2], atol=1e-6)
    assert np.allclose(np.exp(logits).sum(1), 1.0, atol=1e-5)  # logits are log-probabilities
    single = facetrust.create_model("silent_face_fusion", members=["minifasnetv1se"])
    assert single.preprocess["input_size"] == (3, 80, 80) and single.member_names == ("MiniFASNetV1SE",)
    with pytest.raises(ValueError, match="takes \\(B, 6"):
        model.member_logits(torch.zeros(1, 3, 80, 80))


def test_fusion_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = facetrust.create_model("silent_face_fusion").train()
    logits = model(torch.rand(2, 6, 80, 80) * 255)
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()
    (logits[:, 1] - logits[:, 0]).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, missing


def test_import_refuses_bad_names_and_non_weights_files(tmp_path, capsys):
    from facetrust.models.minifasnet import from_released_weights, parse_weights_name

    assert parse_weights_name("4_0_0_80x80_MiniFASNetV1SE.pth") == {
        "file": "4_0_0_80x80_MiniFASNetV1SE.pth", "variant": "MiniFASNetV1SE", "scale": 4.0, "size": [80, 80]}
    assert parse_weights_name("x/2.7_80x80_MiniFASNetV2.pth")["scale"] == 2.7
    for name, message in [("model.pth", "cannot read"), ("2.7_80x80_ResNet.pth", "unknown MiniFASNet"),
                          ("org_1_80x60_MiniFASNetV2.pth", "whole picture"), ("2.7_80x60_MiniFASNetV2.pth", "square"),
                          ("1_0.5_0_80x80_MiniFASNetV2.pth", "shifts")]:
        with pytest.raises(CheckpointError, match=message):
            parse_weights_name(name)
    text = tmp_path / "2.7_80x80_MiniFASNetV2.pth"
    text.write_text("not weights")
    with pytest.raises(CheckpointError, match="weights_only"):
        from_released_weights([text])
    pickled = tmp_path / "4_0_0_80x80_MiniFASNetV1SE.pth"
    torch.save(Box(0, 0, 1, 1), pickled)  # a pickled object, not a state dict: refused, never unpickled
    assert main(["import", "silent-face", str(pickled), "--out", str(tmp_path / "ckpt")]) == 2
    assert "weights_only" in capsys.readouterr().err and not (tmp_path / "ckpt").exists()
    wrong = tmp_path / "2.7_80x80_MiniFASNetV1SE.pth"  # V2-shaped tensors under a V1SE name
    torch.save(facetrust.create_model("silent_face_fusion", members=["MiniFASNetV2"]).members[0].state_dict(), wrong)
    with pytest.raises(CheckpointError, match="do not fit MiniFASNetV1SE"):
        from_released_weights([wrong])
    with pytest.raises(CheckpointError, match="not found"):
        from_released_weights([tmp_path / "missing_2.7_80x80_MiniFASNetV2.pth"])
