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
    # The noise floor: FP32 against itself on the same images with every pixel moved by one level.
    from facetrust.export.quantize import pixel_noise

    steady = fp32.decide(fp32.scores(images)) == fp32.decide(fp32.scores(pixel_noise(images, seed=3)))
    assert config["export"]["agreement_with_fp32"]["fp32_pixel_noise_agreement"] == pytest.approx(steady.mean())


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


def test_int8_graph_rewrites_are_exact(tmp_path, rng):
    """HardSwish re-fused and squeeze-excite ReduceMean -> GlobalAveragePool change no FP32 output."""
    import onnxruntime as ort
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from facetrust.export.quantize import simplify_for_int8

    model = create_model("mobilenetv3_small_100", embed_dim=16, image_size=32)
    export_onnx(model, tmp_path / "m.onnx", exporter="torchscript")
    quant_pre_process(str(tmp_path / "m.onnx"), str(tmp_path / "prepared.onnx"), skip_symbolic_shape=True)
    proto = onnx.load(str(tmp_path / "prepared.onnx"))
    before = op_counts(proto)
    counts = simplify_for_int8(proto)
    after = op_counts(proto)
    # timm's MobileNetV3-Small: hard-swish activations and squeeze-excite blocks pooled by mean.
    assert counts["hardswish"] > 0 and counts["global_average_pool"] > 0
    assert after.get("HardSwish", 0) == before.get("HardSwish", 0) + counts["hardswish"]
    assert after.get("HardSigmoid", 0) == before["HardSigmoid"] - counts["hardswish"]
    assert after.get("ReduceMean", 0) == before["ReduceMean"] - counts["global_average_pool"]
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp_path / "rewritten.onnx"))
    x = rng.standard_normal((3, 3, 32, 32)).astype(np.float32)
    reference = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"image": x})[0]
    rewritten = ort.InferenceSession(str(tmp_path / "rewritten.onnx")).run(None, {"image": x})[0]
    np.testing.assert_allclose(rewritten, reference, atol=1e-5)


def test_pixel_noise_moves_every_value_by_at_most_one_level():
    from facetrust.export.quantize import pixel_noise

    image = np.array([[[0, 128, 255]] * 4] * 4, dtype=np.uint8)
    noisy = pixel_noise([image], seed=0)[0]
    step = noisy.astype(int) - image.astype(int)
    assert noisy.dtype == np.uint8 and np.abs(step).max() == 1 and (step != 0).any()
    assert noisy[..., 0].min() >= 0 and noisy[..., 2].max() <= 255  # clipped, never wrapped around
    np.testing.assert_array_equal(pixel_noise([image], seed=0)[0], noisy)


def _float_convs(path) -> int:
    """Convolutions of a QDQ graph whose weights are plain floats (not behind a DequantizeLinear)."""
    graph = onnx.load(str(path)).graph
    dequantized = {node.output[0] for node in graph.node if node.op_type == "DequantizeLinear"}
    return sum(node.op_type == "Conv" and node.input[1] not in dequantized for node in graph.node)


def test_narrow_front_is_the_stem_block(tmp_path):
    from facetrust.export.quantize import narrow_front

    for name, expect_front in (("mobilenetv3_small_100", True), ("efficientnet_lite0", False)):
        export_onnx(create_model(name, embed_dim=16, image_size=32), tmp_path / f"{name}.onnx", exporter="torchscript")
        proto = onnx.load(str(tmp_path / f"{name}.onnx"))
        front = narrow_front(proto)
        assert bool(front) == expect_front, name
        assert narrow_front(proto, max_channels=0) == []
        if not front:  # EfficientNet-Lite0's stem already writes 32 channels
            continue
        nodes = list(proto.graph.node)
        shapes = {init.name: list(init.dims) for init in proto.graph.initializer}
        # The front is a prefix of the graph; every convolution in it reads and writes <= 16 channels,
        # and the first convolution after it is wider.
        assert [n.name for n in nodes[: len(front)]] == front
        convs = [n for n in nodes[: len(front)] if n.op_type == "Conv"]
        assert len(convs) > 1 and all(shapes[n.input[1]][0] <= 16 for n in convs)
        after = next(n for n in nodes[len(front):] if n.op_type == "Conv")
        group = next((a.i for a in after.attribute if a.name == "group"), 1)
        assert max(shapes[after.input[1]][0], shapes[after.input[1]][1] * group) > 16


def test_front_precision_choices(tmp_path, rng):
    export_onnx(create_model("mobilenetv3_small_100", embed_dim=16, image_size=32), tmp_path / "m.onnx",
                exporter="torchscript")
    calibration = rng.standard_normal((8, 3, 32, 32)).astype(np.float32)
    kept = quantize_int8(tmp_path / "m.onnx", tmp_path / "fp32front.onnx", calibration=calibration, front="fp32")
    quantized = quantize_int8(tmp_path / "m.onnx", tmp_path / "int8front.onnx", calibration=calibration, front="int8")
    assert kept["front"]["choice"] == "fp32" and quantized["front"]["choice"] == "int8"
    assert _float_convs(tmp_path / "int8front.onnx") == 1  # the stem only
    assert _float_convs(tmp_path / "fp32front.onnx") > 1
    auto = quantize_int8(tmp_path / "m.onnx", tmp_path / "auto.onnx", calibration=calibration)
    timings = auto["front"]["timings_ms"]
    expected = "fp32" if timings["fp32"] <= 1.03 * timings["int8"] else "int8"
    assert auto["front"]["choice"] == expected
    assert _float_convs(tmp_path / "auto.onnx") == _float_convs(tmp_path / f"{expected}front.onnx")
    with pytest.raises(FacetrustError, match="front"):
        quantize_int8(tmp_path / "m.onnx", tmp_path / "x.onnx", calibration=calibration, front="fp16")


def test_seven_bit_weights_give_the_reference_arithmetic(tmp_path, rng):
    """With 7-bit weights ORT's fused integer kernels compute what the QDQ graph says, up to rounding:
    close to the logits of the graph run op by op in float. (With 8-bit weights, on this AVX2 machine,
    the 16-bit saturation of ``vpmaddubsw`` moved them by 18-110% of their range in the same check.)"""
    import onnxruntime as ort

    from facetrust import seed_everything

    seed_everything(0)
    export_onnx(create_model("efficientnet_lite0", embed_dim=16, image_size=32), tmp_path / "m.onnx",
                exporter="torchscript")
    calibration = rng.standard_normal((16, 3, 32, 32)).astype(np.float32)
    quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", calibration=calibration)

    def logits(level):
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        return ort.InferenceSession(str(tmp_path / "q.onnx"), options).run(None, {"image": calibration})[0]

    fused, reference = logits(ort.GraphOptimizationLevel.ORT_ENABLE_ALL), logits(ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    spread = np.abs(reference).max()
    assert np.abs(fused - reference).max() < 0.15 * spread


def test_export_cli_int8_options(tmp_path, fas_sim, capsys):
    from facetrust.cli import main

    checkpoint = save(create_model("mobilenetv3_small_100", embed_dim=16, image_size=32), tmp_path / "ckpt",
                      threshold=0.5)
    args = ["export", str(checkpoint), "--out", str(tmp_path / "out"), "--exporter", "torchscript", "--int8",
            "--calib", str(fas_sim), "--int8-front", "fp32", "--int8-weights", "8bit", "--agreement-samples", "16"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    config = json.loads((tmp_path / "out" / "int8" / "config.json").read_text())
    quantization = config["export"]["quantization"]
    assert quantization["front"]["choice"] == "fp32" and quantization["reduce_range"] is False
    assert printed["int8_agreement_with_fp32"] == config["export"]["agreement_with_fp32"]["agreement"]
    assert 0.0 <= printed["fp32_pixel_noise_agreement"] <= 1.0
    assert _float_convs(tmp_path / "out" / "int8" / "model.onnx") > 1
    with pytest.raises(SystemExit):  # argparse rejects an unknown choice
        main([*args[:-6], "--int8-front", "fp16"])


def _live_after(proto, index: int) -> set[str]:
    """Naive reference: activation tensors made at or before node ``index`` and read after it."""
    nodes = list(proto.graph.node)
    constants = {init.name for init in proto.graph.initializer}
    constants |= {out for node in nodes if node.op_type == "Constant" for out in node.output}
    made = {i.name for i in proto.graph.input} | {out for node in nodes[: index + 1] for out in node.output}
    read_later = {name for node in nodes[index + 1:] for name in node.input} | {o.name for o in proto.graph.output}
    return {name for name in made & read_later if name not in constants}


def test_prefix_cuts_match_a_naive_liveness_check(tmp_path):
    from onnx import TensorProto, helper

    from facetrust.export.quantize import prefix_cuts

    weight = helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 1, 1], [1.0])
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], name="A"), helper.make_node("Relu", ["a"], ["r"], name="R"),
             helper.make_node("Conv", ["r", "w"], ["b"], name="B"), helper.make_node("Add", ["b", "r"], ["s"], name="S"),
             helper.make_node("Conv", ["s", "w"], ["y"], name="C")]
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, 2, 2]) for n in ("x", "y")]
    toy = helper.make_model(helper.make_graph(nodes, "toy", [info[0]], [info[1]], [weight]))
    # After B two tensors are live (r for the residual add, and b): no cut there.
    assert prefix_cuts(toy) == [(0, 1), (1, 1), (3, 2), (4, 3)]
    export_onnx(create_model("mobilenetv3_small_100", embed_dim=16, image_size=32), tmp_path / "m.onnx",
                exporter="torchscript")
    proto = onnx.load(str(tmp_path / "m.onnx"))
    cuts = dict(prefix_cuts(proto))
    convs = np.cumsum([node.op_type == "Conv" for node in proto.graph.node])
    for index in range(len(proto.graph.node)):
        expected = convs[index] > 0 and len(_live_after(proto, index)) == 1
        assert (index in cuts) == expected, proto.graph.node[index].name
        if expected:
            assert cuts[index] == convs[index]


def test_fp32_prefix_fixed_and_searched(tmp_path, rng):
    export_onnx(create_model("mobilenetv3_small_100", embed_dim=16, image_size=32), tmp_path / "m.onnx",
                exporter="torchscript")
    calibration = rng.standard_normal((8, 3, 32, 32)).astype(np.float32)
    fixed = quantize_int8(tmp_path / "m.onnx", tmp_path / "fixed.onnx", calibration=calibration, fp32_convs=5,
                          front="int8")
    prefix = fixed["fp32_prefix"]
    assert prefix["total_convs"] == _ops(tmp_path / "m.onnx")["Conv"]
    # The prefix runs to the first block boundary after 5 convolutions; all of them stay float.
    assert prefix["fp32_convs"] >= 5 and _float_convs(tmp_path / "fixed.onnx") == prefix["fp32_convs"]

    # A stand-in for the held-out agreement that grows with the FP32 part of the file.
    calls: list[int] = []

    def agreement_of(path) -> float:
        calls.append(_float_convs(path))
        return min(1.0, 0.80 + 0.02 * _float_convs(path))

    searched = quantize_int8(tmp_path / "m.onnx", tmp_path / "searched.onnx", calibration=calibration,
                             agreement_of=agreement_of, agreement_target=0.9, front="int8")
    prefix = searched["fp32_prefix"]
    tried = {int(k): v for k, v in prefix["tried"].items()}
    candidates, chosen = prefix["candidates"], prefix["fp32_convs"]
    assert prefix["reached"] and tried[chosen] >= 0.9
    # The smallest boundary that reaches the target: the one before it was tried and falls short.
    position = candidates.index(chosen)
    assert position > 0 and tried[candidates[position - 1]] < 0.9
    assert len(calls) == len(tried) <= 2 + int(np.ceil(np.log2(len(candidates))))  # bisection, not a scan
    assert 0.80 + 0.02 * _float_convs(tmp_path / "searched.onnx") == pytest.approx(tried[chosen])
    # With an FP32 front the search starts from it: the shortest candidate is the front itself.
    from_front = quantize_int8(tmp_path / "m.onnx", tmp_path / "f.onnx", calibration=calibration,
                               agreement_of=lambda path: 1.0, front="fp32")
    quantize_int8(tmp_path / "m.onnx", tmp_path / "plain.onnx", calibration=calibration, front="fp32")
    assert from_front["front"]["choice"] == "fp32"
    assert from_front["fp32_prefix"]["fp32_convs"] == from_front["fp32_prefix"]["candidates"][0] > 1
    assert _float_convs(tmp_path / "f.onnx") == _float_convs(tmp_path / "plain.onnx") == from_front["fp32_prefix"]["fp32_convs"]
    # keep_fp32 keeps exactly the named nodes' convolutions float, on top of the stem.
    stage = [n.name for n in onnx.load(str(tmp_path / "m.onnx")).graph.node
             if n.op_type == "Conv" and "/blocks.1/" in n.name]
    quantize_int8(tmp_path / "m.onnx", tmp_path / "k.onnx", calibration=calibration, front="int8",
                  keep_fp32=lambda name: "/blocks.1/" in name)
    assert len(stage) > 1 and _float_convs(tmp_path / "k.onnx") == 1 + len(stage)
    unreachable = quantize_int8(tmp_path / "m.onnx", tmp_path / "u.onnx", calibration=calibration,
                                agreement_of=lambda path: 0.5, agreement_target=0.99)
    assert unreachable["fp32_prefix"]["reached"] is False
    assert unreachable["fp32_prefix"]["fp32_convs"] == max(int(k) for k in unreachable["fp32_prefix"]["tried"])
    with pytest.raises(FacetrustError, match="fp32_convs"):
        quantize_int8(tmp_path / "m.onnx", tmp_path / "x.onnx", calibration=calibration, fp32_convs=10_000)


def test_export_cli_agreement_target(tmp_path, fas_sim, capsys):
    from facetrust.cli import main

    checkpoint = save(create_model("mobilenetv3_small_100", embed_dim=16, image_size=32), tmp_path / "ckpt",
                      threshold=0.5)
    args = ["export", str(checkpoint), "--out", str(tmp_path / "out"), "--exporter", "torchscript", "--int8",
            "--calib", str(fas_sim), "--agreement-samples", "16", "--int8-agreement", "0.99"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    export = json.loads((tmp_path / "out" / "int8" / "config.json").read_text())["export"]
    prefix = export["quantization"]["fp32_prefix"]
    assert printed["fp32_convs"] == prefix["fp32_convs"] and prefix["target"] == 0.99
    assert printed["int8_vs_fp32_time"] > 0
    # Each prefix tried is judged by the smaller of its counted and its smooth val agreement.
    for convs, value in prefix["tried"].items():
        detail = prefix["val_agreement"][convs]
        assert value == pytest.approx(min(detail["counted"], detail["expected"]), abs=1e-6)
    assert "test split" in export["agreement_with_fp32"]["images"]
    # The reported agreement is recomputed on the test images with the stored threshold.
    from facetrust.data import read_image, read_manifest

    df = read_manifest(fas_sim)
    test = df[df["split"] == "test"].sample(frac=1.0, random_state=2)["abs_path"][:16]
    images = [read_image(p) for p in test]
    fp32 = OnnxPredictor(tmp_path / "out").scores(images)
    int8 = OnnxPredictor(tmp_path / "out" / "int8").scores(images)
    assert printed["int8_agreement_with_fp32"] == pytest.approx(decision_agreement(fp32, int8, 0.5)["agreement"])
    assert main([*args[:-1], "1.5"]) != 0
    assert "--int8-agreement 1.5" in capsys.readouterr().err
    # Without val and test splits there is nothing honest to choose on and report on.
    import pandas as pd

    rows = pd.read_csv(fas_sim)
    train_only = fas_sim.parent / "train_only.csv"
    rows[rows["split"] == "train"].to_csv(train_only, index=False)
    assert main([*args[:7], "--calib", str(train_only), *args[9:]]) != 0
    assert "val and test splits" in capsys.readouterr().err


def test_expected_agreement_matches_monte_carlo(rng):
    from facetrust.export.quantize import expected_agreement, log_odds

    fp32 = rng.normal(0.0, 3.0, 400)
    int8 = fp32 + rng.normal(0.1, 0.8, 400)
    threshold = 0.3
    spread = np.std(int8 - fp32)
    cut = np.log(threshold / (1 - threshold))
    assert log_odds(threshold) == pytest.approx(cut)
    draws = fp32[None, :] + rng.normal(0.0, spread, (4000, 400))  # Gaussian errors of the same spread
    monte_carlo = ((draws >= cut) == (fp32 >= cut)[None, :]).mean()
    assert expected_agreement(fp32, int8, threshold) == pytest.approx(monte_carlo, abs=2e-3)
    assert expected_agreement(fp32, fp32, threshold) == 1.0
    assert expected_agreement(fp32 + 100.0, fp32 + 100.5, threshold) > 0.999999
