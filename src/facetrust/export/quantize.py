"""INT8 with ONNX Runtime: static QDQ for CNNs, dynamic for transformers, and decision agreement.

Static quantization (activation ranges calibrated on real images, QDQ format, unsigned 8-bit
activations, signed 8-bit weights) suits convolutional networks, whose activations are stable; dynamic
quantization (weights in INT8, activation ranges computed per call) suits transformers, whose
LayerNorm/softmax activations have outliers. ``mode="auto"`` reads the graph: more Conv than
MatMul/Gemm nodes means a CNN. The classifier head (the last two weighted layers before the logits:
projection and cosine classifier) stays in FP32 in both modes: it is tiny, and quantizing unit-norm
embeddings against class text embeddings moves scores that sit near the threshold.

Decisions must survive quantization: ``decision_agreement`` compares FP32 and INT8 live/spoof
decisions at the stored threshold on held-out images.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.errors import FacetrustError
from facetrust.export.runtime import INPUT_NAME, ONNX_FILE, make_session
from facetrust.predictor import preprocess_images, softmax_bona_fide

WEIGHTED_OPS = ("Conv", "MatMul", "Gemm")
# Static (QDQ) quantization of the convolutional trunk only; MatMul/Gemm are the head.
STATIC_OP_TYPES = ["Conv", "Add", "Mul", "Relu", "Clip", "HardSigmoid", "Sigmoid", "GlobalAveragePool",
                   "AveragePool", "MaxPool", "Concat", "Resize"]
DYNAMIC_OP_TYPES = ["MatMul", "Gemm"]


def op_counts(proto) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in proto.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def choose_mode(proto, mode: str = "auto") -> str:
    """"static" for a convolutional graph, "dynamic" for a transformer (more MatMul/Gemm than Conv)."""
    if mode in ("static", "dynamic"):
        return mode
    if mode != "auto":
        raise FacetrustError(f"unknown INT8 mode {mode!r}; choose auto, static or dynamic")
    counts = op_counts(proto)
    convs = counts.get("Conv", 0)
    matmuls = counts.get("MatMul", 0) + counts.get("Gemm", 0)
    return "static" if convs > matmuls else "dynamic"


def head_nodes(proto, weighted_layers: int = 2) -> list[str]:
    """Names of the nodes between the graph output and its last ``weighted_layers`` weighted ops."""
    producers = {out: node for node in proto.graph.node for out in node.output}
    head: dict[str, int] = {}
    frontier = [(output.name, 0) for output in proto.graph.output]
    while frontier:
        tensor, depth = frontier.pop()
        node = producers.get(tensor)
        if node is None:
            continue
        depth += node.op_type in WEIGHTED_OPS
        if depth > weighted_layers or head.get(node.name, 99) <= depth:
            continue
        head[node.name] = depth
        frontier.extend((name, depth) for name in node.input)
    return sorted(head)


def input_convs(proto) -> list[str]:
    """Names of the Conv nodes that read the graph input directly (the image stem)."""
    inputs = {i.name for i in proto.graph.input}
    return [node.name for node in proto.graph.node if node.op_type == "Conv" and node.input[0] in inputs]


def _name_nodes(proto) -> None:
    """Give every node a unique name (the quantizer addresses nodes by name)."""
    seen: set[str] = set()
    for i, node in enumerate(proto.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}"
        seen.add(node.name)


class _ArrayReader:
    """An ORT ``CalibrationDataReader`` over a preprocessed (N, C, H, W) array, in small batches."""

    def __init__(self, batch: np.ndarray, input_name: str, batch_size: int = 8) -> None:
        self.chunks = [batch[i : i + batch_size] for i in range(0, len(batch), batch_size)]
        self.input_name = input_name
        self.index = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.index >= len(self.chunks):
            return None
        self.index += 1
        return {self.input_name: np.ascontiguousarray(self.chunks[self.index - 1], dtype=np.float32)}

    def rewind(self) -> None:
        self.index = 0


def quantize_int8(
    fp32_path: str | os.PathLike,
    int8_path: str | os.PathLike,
    *,
    mode: str = "auto",
    calibration: np.ndarray | None = None,
    per_channel: bool | None = None,
    keep_head_fp32: bool = True,
) -> dict[str, Any]:
    """Quantize an ONNX file to INT8 with ONNX Runtime; static mode needs ``calibration`` (N, C, H, W).

    ``per_channel`` (default: True for static, False for dynamic) gives each output channel of a
    convolution its own weight scale, which BN-folded CNN weights need. The stem convolution (it
    reads the 3-channel image) stays FP32 in static mode: on x86 without VNNI, ONNX Runtime's
    uint8 x int8 kernels add pairs of products in 16 bits, which saturates on the full-range image
    input; it is also the layer INT8 speeds up least.

    Returns ``{"mode", "format", "per_channel", "calibration_images", "excluded_nodes"}``.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    proto = onnx.load(str(fp32_path))
    mode = choose_mode(proto, mode)
    _name_nodes(proto)
    excluded = head_nodes(proto) if keep_head_fp32 else []
    if per_channel is None:
        per_channel = mode == "static"
    if mode == "static":
        excluded += input_convs(proto)
    Path(int8_path).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="facetrust-quant-") as tmp:
        named = Path(tmp) / "named.onnx"
        onnx.save(proto, str(named))
        if mode == "dynamic":
            quantize_dynamic(
                str(named), str(int8_path), weight_type=QuantType.QInt8, per_channel=per_channel,
                op_types_to_quantize=DYNAMIC_OP_TYPES, nodes_to_exclude=excluded,
            )
            return {"mode": mode, "format": "dynamic (MatMulInteger/DynamicQuantizeLinear)",
                    "weights": "int8", "per_channel": per_channel, "calibration_images": 0,
                    "excluded_nodes": len(excluded)}
        if calibration is None or len(calibration) == 0:
            raise FacetrustError(
                "static INT8 quantization of a CNN needs calibration images: pass --calib MANIFEST "
                "(a few dozen images of the deployment domain)"
            )
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(named), str(prepared), skip_symbolic_shape=True)
        reader = _ArrayReader(calibration, INPUT_NAME)
        quantize_static(
            str(prepared), str(int8_path), reader, quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
            calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=STATIC_OP_TYPES,
            nodes_to_exclude=excluded,
        )
    return {"mode": mode, "format": "QDQ static (uint8 activations, int8 weights, MinMax calibration, stem FP32)",
            "per_channel": per_channel, "calibration_images": int(len(calibration)),
            "excluded_nodes": len(excluded)}


def onnx_scores(session, batch: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """P(bona fide) from an ORT session on a preprocessed batch."""
    name = session.get_inputs()[0].name
    out = [softmax_bona_fide(session.run(None, {name: np.ascontiguousarray(batch[i : i + batch_size])})[0])
           for i in range(0, len(batch), batch_size)]
    return np.concatenate(out) if out else np.empty(0, dtype=np.float32)


def decision_agreement(fp32_scores: np.ndarray, int8_scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Share of samples whose live/spoof decision (``score >= threshold``) is the same in both."""
    fp32_scores = np.asarray(fp32_scores, dtype=np.float64)
    int8_scores = np.asarray(int8_scores, dtype=np.float64)
    if fp32_scores.shape != int8_scores.shape or fp32_scores.size == 0:
        raise ValueError("decision_agreement needs two non-empty score arrays of the same shape")
    same = (fp32_scores >= threshold) == (int8_scores >= threshold)
    return {"agreement": float(same.mean()), "samples": int(same.size), "disagreements": int((~same).sum()),
            "threshold": float(threshold), "max_abs_score_diff": float(np.abs(fp32_scores - int8_scores).max())}


def export_int8(
    model, out: Path, checkpoint_config: dict[str, Any], fp32_info: dict[str, Any], *,
    calib: str | os.PathLike | None, mode: str = "auto", calib_samples: int = 64,
    agreement_samples: int = 256, log=print,
) -> dict[str, Any]:
    """Write ``out/int8`` (``model.onnx`` + ``config.json``) from ``out/model.onnx`` and report the
    agreement of its decisions with FP32 on held-out images (val/test split of ``calib``)."""
    from facetrust.export.onnx import load_sample_images, write_export_config

    folder = out / "int8"
    folder.mkdir(parents=True, exist_ok=True)
    import onnx

    mode = choose_mode(onnx.load(str(out / ONNX_FILE), load_external_data=False), mode)
    calibration, calib_source = None, None
    if mode == "static":
        calib_images, calib_source = load_sample_images(calib, calib_samples, seed=1, splits=("train",))
        calibration = preprocess_images(calib_images, model.preprocess)
    info = quantize_int8(out / ONNX_FILE, folder / ONNX_FILE, mode=mode, calibration=calibration)
    held_out, held_source = load_sample_images(calib, agreement_samples, seed=2, splits=("val", "test"))
    batch = preprocess_images(held_out, model.preprocess)
    fp32_scores = onnx_scores(make_session(out / ONNX_FILE), batch)
    int8_scores = onnx_scores(make_session(folder / ONNX_FILE), batch)
    threshold = checkpoint_config.get("threshold")
    threshold_note = "stored threshold"
    if threshold is None:
        threshold, threshold_note = 0.5, "no stored threshold: 0.5"
    agreement = {**decision_agreement(fp32_scores, int8_scores, threshold), "images": held_source,
                 "threshold_source": threshold_note}
    log(f"int8 ({info['mode']}): decisions agree with FP32 on {agreement['agreement']:.2%} of "
        f"{agreement['samples']} {held_source} images at threshold {threshold:.4f} ({threshold_note}); "
        f"max |score difference| {agreement['max_abs_score_diff']:.3e}")
    export_info = {**{k: v for k, v in fp32_info.items() if k != "parity"}, "precision": "int8",
                   "quantization": {**info, "calibration_source": calib_source}, "agreement_with_fp32": agreement}
    write_export_config(folder, checkpoint_config, export_info)
    return {"folder": str(folder), **export_info}
