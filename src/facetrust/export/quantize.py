"""INT8 with ONNX Runtime: static QDQ for CNNs, dynamic for transformers (``quantize_int8``).

Static quantization (activation ranges calibrated on real images, QDQ format, unsigned 8-bit
activations, signed 8-bit weights) suits convolutional networks, whose activations are stable; dynamic
quantization (weights in INT8, activation ranges computed per call) suits transformers, whose
LayerNorm/softmax activations have outliers. ``mode="auto"`` reads the graph (``graph.choose_mode``).
The classifier head (the last two weighted layers before the logits: projection and cosine classifier)
stays in FP32 in both modes: it is tiny, and quantizing unit-norm embeddings against class text
embeddings moves scores that sit near the threshold. Static mode also keeps the stem in FP32, may keep
the narrow front (the first block) when that is faster here, and gives weights 7 bits so that AVX2
kernels do not saturate. For agreement rather than speed, a longer FP32 prefix can be searched on
validation images (``agreement_of``). The graph is first run through ONNX Runtime's
``quant_pre_process`` (shape inference and optimisation), as its quantizer asks.

Where things live: graph analysis in ``facetrust.export.graph``, agreement and the pixel-noise floor
in ``facetrust.export.agreement``, timing in ``facetrust.export.timing``, the choice of the shipped
precision in ``facetrust.export.precision``. Their names are re-exported here for older imports.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.atomic import atomic_path
from facetrust.errors import FacetrustError
from facetrust.export.agreement import (  # noqa: F401  (re-exported)
    decision_agreement,
    expected_agreement,
    log_odds,
    onnx_decision_logits,
    onnx_logits,
    onnx_scores,
    pixel_noise,
)
from facetrust.export.graph import (  # noqa: F401  (re-exported)
    WEIGHTED_OPS,
    _attribute,
    _name_nodes,
    choose_mode,
    head_nodes,
    input_convs,
    narrow_front,
    op_counts,
    prefix_cuts,
    simplify_for_int8,
)
from facetrust.export.runtime import INPUT_NAME
from facetrust.export.timing import time_onnx_files

# Static (QDQ) quantization of the convolutional trunk only; MatMul/Gemm are the head.
STATIC_OP_TYPES = ["Conv", "Add", "Mul", "Relu", "Clip", "HardSigmoid", "Sigmoid", "GlobalAveragePool",
                   "AveragePool", "MaxPool", "Concat", "Resize"]
DYNAMIC_OP_TYPES = ["MatMul", "Gemm"]
FRONT_CHOICES = ("auto", "fp32", "int8")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
time_models = time_onnx_files  # the old name (``facetrust.export.quantize.time_models``)


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
    reduce_range: bool = True,
    front: str = "auto",
    front_channels: int = 16,
    fp32_convs: int = 0,
    keep_fp32: Callable[[str], bool] | None = None,
    agreement_of: Callable[[Path], float] | None = None,
    agreement_target: float = 0.99,
    calibration_method: str = "minmax",
) -> dict[str, Any]:
    """Quantize an ONNX file to INT8 with ONNX Runtime; static mode needs ``calibration`` (N, C, H, W).

    Static mode (CNNs), what stays in FP32 and why:

    * the stem convolution (it reads the 3-channel image) and the head (see ``head_nodes``);
    * the narrow front (``narrow_front``: the layers before the first convolution wider than
      ``front_channels``): ``front="fp32"`` keeps it, ``"int8"`` quantizes it, ``"auto"`` times both
      INT8 graphs here (batch 1, one thread, interleaved) and keeps the faster, FP32 on a tie (< 3%).

    ``per_channel`` (default: True for static, False for dynamic) gives each output channel of a
    convolution its own weight scale, which BN-folded CNN weights need. ``reduce_range`` gives the
    weights 7 bits: x86 CPUs without VNNI add pairs of uint8 x int8 products in 16 bits
    (``vpmaddubsw``), which saturates with 8-bit weights, so the same INT8 file would give other
    numbers there than on a VNNI CPU; with 7 bits the kernels match the QDQ graph up to rounding.
    Exact graph rewrites (``simplify_for_int8``) run before quantization. ``calibration_method``
    (static): "minmax" (default), "entropy" or "percentile" (ORT's calibrators; see
    ``benchmarks/int8_calibration.py`` for their agreement and speed side by side).

    Mixed precision (static mode): ``fp32_convs`` > 0 keeps the network up to the first block boundary
    (``prefix_cuts``) after its first ``fp32_convs`` convolutions in FP32 (and at least the front, when
    the front choice is FP32). With
    ``agreement_of`` (a function from an INT8 file to its decision agreement with FP32 on held-out
    images) the shortest such FP32 prefix that reaches ``agreement_target`` is searched by bisection over
    the block boundaries (agreement grows with the prefix); the longest one tried is kept when none
    reaches it. On the fas-sim students the early, high-resolution activations are where INT8 flips
    decisions, and also where INT8 kernels gain most time: this trades speed for agreement.

    Returns ``{"mode", "format", "per_channel", "reduce_range", "calibration_images",
    "excluded_nodes", "graph_rewrites", "front", "fp32_prefix"}`` (``front``: choice, nodes, timings;
    ``fp32_prefix``: convolutions kept, of how many, and the search). ``keep_fp32`` (static mode) keeps
    every node of the prepared graph whose name it accepts in FP32 as well (used to study sensitivity).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibration_method not in CALIBRATION_METHODS:
        raise FacetrustError(f"unknown calibration method {calibration_method!r}; choose one of "
                             f"{', '.join(CALIBRATION_METHODS)}")
    if front not in FRONT_CHOICES:
        raise FacetrustError(f"unknown front precision {front!r}; choose one of {', '.join(FRONT_CHOICES)}")
    proto = onnx.load(str(fp32_path))
    mode = choose_mode(proto, mode)
    _name_nodes(proto)
    excluded = head_nodes(proto) if keep_head_fp32 else []
    if per_channel is None:
        per_channel = mode == "static"
    # Every write below goes to a temporary sibling that replaces int8_path only when quantization
    # finished: a failure or a kill mid-way leaves the old file (or none), never half a model.
    with atomic_path(int8_path) as int8_path, tempfile.TemporaryDirectory(prefix="facetrust-quant-") as tmp:
        named = Path(tmp) / "named.onnx"
        onnx.save(proto, str(named))
        if mode == "dynamic":
            prepared = Path(tmp) / "prepared.onnx"  # shape inference + optimisation, as ORT's quantizer asks
            quant_pre_process(str(named), str(prepared), skip_symbolic_shape=True)
            prepared_proto = onnx.load(str(prepared))
            _name_nodes(prepared_proto)
            onnx.save(prepared_proto, str(prepared))
            excluded = head_nodes(prepared_proto) if keep_head_fp32 else []
            quantize_dynamic(
                str(prepared), str(int8_path), weight_type=QuantType.QInt8, per_channel=per_channel,
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
        prepared_proto = onnx.load(str(prepared))
        rewrites = simplify_for_int8(prepared_proto)
        onnx.save(prepared_proto, str(prepared))
        excluded = sorted(set(excluded) | set(input_convs(prepared_proto)))
        if keep_fp32 is not None:  # nodes of the prepared graph the caller keeps FP32 (by name)
            excluded = sorted(set(excluded) | {n.name for n in prepared_proto.graph.node if keep_fp32(n.name)})
        front_nodes = narrow_front(prepared_proto, front_channels)

        def quantize(path: Path, keep: list[str]) -> None:
            _quantize_static(prepared, path, calibration, per_channel, reduce_range, sorted(set(excluded) | set(keep)),
                             calibration_method)

        front_info: dict[str, Any] = {"nodes": len(front_nodes), "choice": "int8" if front_nodes else "none",
                                      "timings_ms": None}
        if not front_nodes or front == "int8":
            quantize(Path(int8_path), [])
        elif front == "fp32":
            quantize(Path(int8_path), front_nodes)
            front_info["choice"] = "fp32"
        else:
            candidates = {"fp32": Path(tmp) / "front_fp32.onnx", "int8": Path(tmp) / "front_int8.onnx"}
            quantize(candidates["fp32"], front_nodes)
            quantize(candidates["int8"], [])
            timings = time_models(candidates, calibration[:1])
            choice = "fp32" if timings["fp32"] <= 1.03 * timings["int8"] else "int8"
            Path(int8_path).write_bytes(candidates[choice].read_bytes())
            front_info.update(choice=choice, timings_ms={k: round(v, 3) for k, v in timings.items()})
        base = front_nodes if front_info["choice"] == "fp32" else []
        prefix_info = None
        if fp32_convs > 0 or agreement_of is not None:  # a longer FP32 prefix, starting from the front choice
            prefix_info, base = _fp32_prefix(prepared_proto, quantize, Path(int8_path), Path(tmp), base, fp32_convs,
                                             agreement_of, agreement_target)
        excluded = sorted(set(excluded) | set(base))
    return {"mode": mode, "format": f"QDQ static (uint8 activations, int8 weights, {calibration_method} calibration)",
            "calibration_method": calibration_method, "per_channel": per_channel, "reduce_range": reduce_range, "calibration_images": int(len(calibration)),
            "excluded_nodes": len(excluded), "graph_rewrites": rewrites, "front": front_info,
            "fp32_prefix": prefix_info}


def _fp32_prefix(proto, quantize: Callable[[Path, list[str]], None], out: Path, tmp: Path, base: list[str],
                 fp32_convs: int, agreement_of: Callable[[Path], float] | None,
                 target: float) -> tuple[dict[str, Any], list[str]]:
    """Write ``out`` with a leading FP32 part that contains ``base`` (the front kept FP32, or nothing):
    the first ``fp32_convs`` convolutions, or the shortest prefix that reaches ``target``. Returns
    (info, FP32 nodes)."""
    cuts = prefix_cuts(proto)
    nodes = list(proto.graph.node)
    names = [node.name for node in nodes]
    total = sum(node.op_type == "Conv" for node in nodes)
    base_convs = sum(node.op_type == "Conv" for node in nodes[: len(base)])
    ends = {}  # convolutions kept -> last node index of that prefix (the first cut after them)
    for index, convs in cuts:
        if base_convs < convs < total:
            ends.setdefault(convs, index)

    def prefix(convs: int) -> list[str]:
        if convs <= base_convs:
            return list(base)
        index = next((ends[c] for c in sorted(ends) if c >= convs), None)
        if index is None:
            raise FacetrustError(f"fp32_convs={convs}: the network has no block boundary after {convs} of its "
                                 f"{total} convolutions that leaves any in INT8; choose fewer")
        return names[: index + 1]

    info: dict[str, Any] = {"total_convs": total, "target": None, "tried": None, "reached": None}
    if agreement_of is None:
        kept = prefix(fp32_convs)
        quantize(out, kept)
        return {**info, "fp32_convs": sum(node.op_type == "Conv" for node in nodes[: len(kept)])}, kept
    candidates = [base_convs, *sorted(ends)]
    tried: dict[int, float] = {}

    def agreement(position: int) -> float:
        convs = candidates[position]
        if convs not in tried:
            path = tmp / f"prefix_{convs}.onnx"
            quantize(path, prefix(convs))
            tried[convs] = float(agreement_of(path))
        return tried[convs]

    low, high = 0, len(candidates) - 1
    if agreement(high) < target:
        chosen = high  # none reaches the target: the most FP32 there is
    elif agreement(low) >= target:
        chosen = low
    else:  # agreement(low) < target <= agreement(high)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if agreement(middle) >= target else (middle, high)
        chosen = high
    convs = candidates[chosen]
    out.write_bytes((tmp / f"prefix_{convs}.onnx").read_bytes())
    return {**info, "fp32_convs": convs, "target": target, "reached": tried[convs] >= target,
            "candidates": candidates, "tried": {str(c): round(a, 6) for c, a in sorted(tried.items())}}, prefix(convs)


def _quantize_static(prepared: Path, out: Path, calibration: np.ndarray, per_channel: bool, reduce_range: bool,
                     excluded: list[str], calibration_method: str = "minmax") -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[calibration_method]

    try:
        quantize_static(
            str(prepared), str(out), _ArrayReader(calibration, INPUT_NAME), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
            reduce_range=reduce_range, calibrate_method=method,
            op_types_to_quantize=STATIC_OP_TYPES, nodes_to_exclude=excluded,
        )
    except ValueError as err:  # e.g. a histogram over a tensor with no range (a dead ReLU)
        raise FacetrustError(f"{calibration_method} calibration failed on {len(calibration)} images: {err}; "
                             "use --int8-calibration minmax or more calibration images") from err
