"""The INT8 file is written atomically: a quantization that fails after writing part of its output
leaves the previous model.onnx untouched and no temporary file behind; a finished one replaces it."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from facetrust import create_model
from facetrust.export.onnx import export_onnx
from facetrust.export.quantize import quantize_int8

OLD = b"the previous INT8 model"


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    path = tmp_path_factory.mktemp("fp32") / "model.onnx"
    export_onnx(create_model("resnet8", embed_dim=16, image_size=32), path, exporter="torchscript")
    return path


def _calibration() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)


def _half_written(written: list):
    def quantize(prepared, out, *args, **kwargs):  # stands in for ONNX Runtime's writer, killed mid-file
        with open(out, "wb") as f:
            f.write(b"\x08\x07half a protobuf")
        written.append(out)
        raise RuntimeError("quantizer died mid-write")

    return quantize


def test_failed_static_quantization_keeps_the_old_file(fp32, tmp_path, monkeypatch):
    target = tmp_path / "int8" / "model.onnx"
    target.parent.mkdir()
    target.write_bytes(OLD)
    written: list = []
    monkeypatch.setattr("facetrust.export.quantize._quantize_static", _half_written(written))
    with pytest.raises(RuntimeError, match="mid-write"):
        quantize_int8(fp32, target, mode="static", calibration=_calibration(), front="int8")
    assert written and written[0] != target and written[0].parent == target.parent  # it wrote beside, not over
    assert target.read_bytes() == OLD
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.onnx"]  # the half file is gone


def test_failed_dynamic_quantization_leaves_no_file(fp32, tmp_path, monkeypatch):
    target = tmp_path / "int8" / "model.onnx"
    written: list = []
    fake = _half_written(written)
    monkeypatch.setattr("onnxruntime.quantization.quantize_dynamic", lambda prepared, out, **kw: fake(prepared, out))
    with pytest.raises(RuntimeError, match="mid-write"):
        quantize_int8(fp32, target, mode="dynamic")
    assert written and not target.exists() and list(target.parent.iterdir()) == []


def test_finished_quantization_replaces_the_old_file(fp32, tmp_path):
    target = tmp_path / "int8" / "model.onnx"
    target.parent.mkdir()
    target.write_bytes(OLD)
    info = quantize_int8(fp32, target, mode="static", calibration=_calibration(), front="int8")
    assert info["mode"] == "static"
    ops = {node.op_type for node in onnx.load(str(target)).graph.node}
    assert "QuantizeLinear" in ops  # a whole INT8 graph, loadable
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.onnx"]
