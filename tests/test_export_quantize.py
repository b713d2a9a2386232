"""INT8 with ONNX Runtime: static QDQ for CNNs calibrated on fas-sim, dynamic for transformers."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from facetrust import create_model, save
from facetrust.errors import FacetrustError
from facetrust.export.onnx import export_checkpoint, export_onnx
from facetrust.export.quantize import choose_mode, decision_agreement, head_nodes, op_counts, quantize_int8
from facetrust.export.runtime import OnnxPredictor


@pytest.fixture(scope="module")
def fas_sim(tmp_path_factory):
    from facetrust.data import make_fas_sim

    return make_fas_sim(tmp_path_factory.mktemp("fas"), seed=0, image_size=32, domains=("phone", "webcam"),
                        subjects_per_domain=3)


def _ops(path) -> dict[str, int]:
    return op_counts(onnx.load(str(path)))


def test_decision_agreement_matches_a_loop(rng):
    a = rng.random(200)
    b = np.clip(a + rng.normal(0, 0.05, 200), 0, 1)
    result = decision_agreement(a, b, 0.5)
    same = sum(1 for x, y in zip(a, b, strict=True) if (x >= 0.5) == (y >= 0.5))
    assert result["agreement"] == same / 200 and result["disagreements"] == 200 - same
    assert result["max_abs_score_diff"] == pytest.approx(max(abs(x - y) for x, y in zip(a, b, strict=True)))
    with pytest.raises(ValueError):
        decision_agreement(a, b[:10], 0.5)


def test_static_int8_for_a_cnn(tmp_path, fas_sim):
    model = create_model("mobilenetv3_small_100", embed_dim=16, image_size=32)
    checkpoint = save(model, tmp_path / "ckpt", threshold=0.5)
    summary = export_checkpoint(checkpoint, tmp_path / "onnx", calib=fas_sim, int8=True,
                                exporter="torchscript", log=lambda m: None)
    int8 = summary["int8"]
    assert int8["quantization"]["mode"] == "static" and int8["quantization"]["calibration_images"] > 0
    int8_graph = onnx.load(str(tmp_path / "onnx" / "int8" / "model.onnx")).graph
    ops = op_counts(onnx.load(str(tmp_path / "onnx" / "int8" / "model.onnx")))
    assert ops.get("QuantizeLinear", 0) > 10 and ops.get("DequantizeLinear", 0) > 10
    # The stem convolution reads the float image directly: it was kept in FP32.
    assert [n.op_type for n in int8_graph.node if "image" in n.input] == ["Conv"]
    # The agreement in the config is recomputed here from the two predictors on the same images.
    from facetrust.data import read_image, read_manifest

    df = read_manifest(fas_sim)
    held_out = df[df["split"].isin(["val", "test"])].sample(frac=1.0, random_state=2)
    images = [read_image(p) for p in held_out["abs_path"]]
    fp32 = OnnxPredictor(tmp_path / "onnx")
    quantized = OnnxPredictor(tmp_path / "onnx" / "int8")
    assert quantized.precision == "int8" and quantized.threshold == 0.5
    same = fp32.decide(fp32.scores(images)) == quantized.decide(quantized.scores(images))
    config = json.loads((tmp_path / "onnx" / "int8" / "config.json").read_text())
    assert config["export"]["agreement_with_fp32"]["agreement"] == pytest.approx(same.mean())
    assert config["export"]["agreement_with_fp32"]["samples"] == len(images)


def test_dynamic_int8_for_a_transformer(tmp_path):
    model = create_model("flip_it", clip="clip-tiny")
    checkpoint = save(model, tmp_path / "ckpt", threshold=0.5)
    summary = export_checkpoint(checkpoint, tmp_path / "onnx", int8=True, exporter="torchscript",
                                log=lambda m: None)
    assert summary["int8"]["quantization"]["mode"] == "dynamic"
    ops = _ops(tmp_path / "onnx" / "int8" / "model.onnx")
    assert ops.get("MatMulInteger", 0) + ops.get("DynamicQuantizeLinear", 0) > 0
    scores = OnnxPredictor(tmp_path / "onnx" / "int8").scores([np.full((64, 64, 3), 128, np.uint8)])
    assert scores.shape == (1,) and np.isfinite(scores).all()


def test_mode_and_head_from_the_graph(tmp_path):
    cnn = create_model("resnet8", embed_dim=16, image_size=32)
    export_onnx(cnn, tmp_path / "cnn.onnx", exporter="torchscript")
    vit = create_model("vit_tiny_patch16_224", embed_dim=16, image_size=32, backbone_kwargs={"depth": 2})
    export_onnx(vit, tmp_path / "vit.onnx", exporter="torchscript")
    cnn_proto, vit_proto = onnx.load(str(tmp_path / "cnn.onnx")), onnx.load(str(tmp_path / "vit.onnx"))
    assert choose_mode(cnn_proto) == "static" and choose_mode(vit_proto) == "dynamic"
    assert choose_mode(vit_proto, "static") == "static"
    head = set(head_nodes(cnn_proto))
    by_name = {n.name: n for n in cnn_proto.graph.node}
    head_ops = [by_name[name].op_type for name in head]
    # The head is the projection (Gemm) and the cosine classifier (MatMul), never a convolution.
    assert sum(op in ("Gemm", "MatMul") for op in head_ops) == 2 and "Conv" not in head_ops
    assert any(out.name in by_name[name].output for name in head for out in cnn_proto.graph.output)


def test_static_needs_calibration(tmp_path):
    export_onnx(create_model("resnet8", embed_dim=16, image_size=32), tmp_path / "m.onnx", exporter="torchscript")
    with pytest.raises(FacetrustError, match="--calib"):
        quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", mode="static", calibration=None)
