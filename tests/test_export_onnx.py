"""ONNX export: parity with PyTorch for every student and the FLIP teacher's image path (tiny configs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facetrust import create_model, save
from facetrust.checkpoint import load_model
from facetrust.export.onnx import ExportError, export_checkpoint, export_onnx, onnx_parity
from facetrust.export.runtime import OnnxPredictor
from facetrust.predictor import TorchPredictor, preprocess_images

TINY_STUDENTS = {
    "resnet8": {},
    "mobilenetv3_small_100": {},
    "mobilenetv3_large_100": {},
    "efficientnet_lite0": {},
    "vit_tiny_patch16_224": {"backbone_kwargs": {"depth": 2}},
}


def _images(n: int = 5, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(40 + 7 * i, 48, 3), dtype=np.uint8) for i in range(n)]


def _checkpoint(tmp_path, name: str, **kwargs):
    model = create_model(name, **kwargs)
    return save(model, tmp_path / "ckpt", threshold=0.42, threshold_strategy="eer@val")


def _assert_same_predictions(checkpoint, exported) -> None:
    """Independent check through the public predictors: same scores and decisions on raw images."""
    images = _images()
    torch_predictor = TorchPredictor(load_model(checkpoint))
    onnx_predictor = OnnxPredictor(exported)
    expected = torch_predictor.scores(images)
    got = onnx_predictor.scores(images)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    batch = preprocess_images(images, onnx_predictor.preprocess)
    np.testing.assert_allclose(onnx_predictor.logits(batch), torch_predictor.logits(batch), atol=1e-4)
    assert onnx_predictor.threshold == 0.42
    assert (onnx_predictor.decide(got) == torch_predictor.decide(expected)).all()


@pytest.mark.parametrize("name", sorted(TINY_STUDENTS))
def test_student_export_matches_pytorch(tmp_path, name):
    checkpoint = _checkpoint(tmp_path, name, embed_dim=16, image_size=32, **TINY_STUDENTS[name])
    summary = export_checkpoint(checkpoint, tmp_path / "onnx", exporter="torchscript", log=lambda m: None)
    assert summary["fp32"]["parity"]["max_abs_logit_diff"] < 1e-4
    _assert_same_predictions(checkpoint, tmp_path / "onnx")
    config = json.loads((tmp_path / "onnx" / "config.json").read_text())
    source = json.loads((checkpoint / "config.json").read_text())
    assert config["preprocess"] == source["preprocess"]
    assert config["architecture"] == source["architecture"]
    assert config["threshold_strategy"] == "eer@val"
    assert config["export"]["precision"] == "fp32"
    assert list(config["files"]) == ["model.onnx"]


def test_teacher_image_path_export_matches_pytorch(tmp_path):
    checkpoint = _checkpoint(tmp_path, "flip_it", clip="clip-tiny")
    export_checkpoint(checkpoint, tmp_path / "onnx", exporter="torchscript", log=lambda m: None)
    _assert_same_predictions(checkpoint, tmp_path / "onnx")
    import onnx

    graph = onnx.load(str(tmp_path / "onnx" / "model.onnx")).graph
    # Only the image path is exported: no token embedding table of the text tower in the graph.
    assert not any(init.dims[:1] == [49408] for init in graph.initializer)


def test_dynamo_exporter_and_dynamic_batch(tmp_path):
    checkpoint = _checkpoint(tmp_path, "resnet8", embed_dim=16, image_size=32)
    model = load_model(checkpoint)
    info = export_onnx(model, tmp_path / "m.onnx", exporter="dynamo")
    assert info["exporter"] == "dynamo" and info["opset"] >= 17
    batch = preprocess_images(_images(7), model.preprocess)  # 7 != the export example's batch of 2
    assert onnx_parity(model, tmp_path / "m.onnx", batch) < 1e-4


@pytest.mark.slow
def test_teacher_dynamo_export(tmp_path):
    checkpoint = _checkpoint(tmp_path, "flip_it", clip="clip-tiny")
    summary = export_checkpoint(checkpoint, tmp_path / "onnx", exporter="auto", log=lambda m: None)
    assert summary["fp32"]["exporter"] == "dynamo"
    _assert_same_predictions(checkpoint, tmp_path / "onnx")


def test_parity_failure_removes_the_model(tmp_path, monkeypatch):
    import facetrust.export.onnx as onnx_module

    checkpoint = _checkpoint(tmp_path, "resnet8", embed_dim=16, image_size=32)
    real = onnx_module.torch_logits
    monkeypatch.setattr(onnx_module, "torch_logits", lambda model, batch: real(model, batch) + 1e-3)
    with pytest.raises(ExportError, match="differ from PyTorch"):
        export_checkpoint(checkpoint, tmp_path / "onnx", exporter="torchscript", log=lambda m: None)
    assert not (tmp_path / "onnx" / "model.onnx").exists()


def test_cli_export_and_errors(tmp_path, capsys):
    from facetrust.cli import main

    checkpoint = _checkpoint(tmp_path, "resnet8", embed_dim=16, image_size=32)
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "out"), "--exporter", "torchscript"]) == 0
    out = capsys.readouterr().out
    assert "max |logit difference|" in out and (tmp_path / "out" / "model.onnx").is_file()
    assert main(["export", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert "missing" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "file")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["export", str(checkpoint), "--out", str(checkpoint)]) == 2
    assert "checkpoint folder itself" in capsys.readouterr().err
    assert load_model(checkpoint) is not None  # untouched
