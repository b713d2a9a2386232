"""INT8 with ONNX Runtime: static QDQ for CNNs, dynamic for transformers, and decision agreement.

Static quantization (activation ranges calibrated on real images, QDQ format, unsigned 8-bit
activations, signed 8-bit weights) suits convolutional networks, whose activations are stable; dynamic
quantization (weights in INT8, activation ranges computed per call) suits transformers, whose
LayerNorm/softmax activations have outliers. ``mode="auto"`` reads the graph: more Conv than
MatMul/Gemm nodes means a CNN. The classifier head (the last two weighted layers before the logits:
projection and cosine classifier) stays in FP32 in both modes: it is tiny, and quantizing unit-norm
embeddings against class text embeddings moves scores that sit near the threshold. Static mode also
keeps the stem in FP32, may keep the narrow front (the first block) when that is faster here, and gives
weights 7 bits so that AVX2 kernels do not saturate (``quantize_int8``). For agreement rather than
speed, a longer FP32 prefix can be searched on validation images (``agreement_of``).

Decisions must survive quantization: ``decision_agreement`` compares FP32 and INT8 live/spoof
decisions at the stored threshold on held-out images, and ``pixel_noise`` gives the scale to read it
against (how often FP32 changes its own decisions when pixels move by one intensity level).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
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
FRONT_CHOICES = ("auto", "fp32", "int8")


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


def _attribute(node, name: str, default=None):
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def simplify_for_int8(proto) -> dict[str, int]:
    """Exact rewrites that let ONNX Runtime keep more of a CNN in integer kernels; returns counts.

    * ``Mul(x, HardSigmoid(x))`` with alpha 1/6, beta 1/2 (what ORT's optimizer turns HardSwish into)
      becomes one ``HardSwish`` again: one quantized tensor per activation instead of two (the gate
      and the product, the latter through an integer ``QLinearMul``); faster, and on trained
      MobileNetV3-Small it raised INT8/FP32 agreement from 94.5% to 96.5% by itself.
    * ``ReduceMean`` over the two spatial axes with ``keepdims`` (timm's squeeze-excite pooling)
      becomes ``GlobalAveragePool``, which ORT runs on uint8 (``QLinearGlobalAveragePool``) instead of
      dequantizing the whole feature map.
    """
    from onnx import helper, numpy_helper

    graph = proto.graph
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    for output in graph.output:
        consumers[output.name] = consumers.get(output.name, 0) + 1
    initializers = {init.name: init for init in graph.initializer}
    ranks = {info.name: len(info.type.tensor_type.shape.dim)
             for info in [*graph.value_info, *graph.input, *graph.output]
             if info.type.tensor_type.HasField("shape")}
    counts = {"hardswish": 0, "global_average_pool": 0}
    removed: set[int] = set()
    rewritten = []
    for node in graph.node:
        if node.op_type == "Mul" and len(node.input) == 2:
            for x, gate in (node.input, node.input[::-1]):
                source = producers.get(gate)
                if (source is not None and source.op_type == "HardSigmoid" and source.input[0] == x
                        and consumers.get(gate, 0) == 1
                        and abs(_attribute(source, "alpha", 0.2) - 1 / 6) < 1e-6
                        and abs(_attribute(source, "beta", 0.5) - 0.5) < 1e-6):
                    removed.add(id(source))
                    node = helper.make_node("HardSwish", [x], list(node.output), name=node.name)
                    counts["hardswish"] += 1
                    break
        elif node.op_type == "ReduceMean" and ranks.get(node.input[0]) == 4 and _attribute(node, "keepdims", 1) == 1:
            axes = _attribute(node, "axes")
            if axes is None and len(node.input) > 1 and node.input[1] in initializers:
                axes = numpy_helper.to_array(initializers[node.input[1]]).tolist()
            if axes is not None and sorted(int(a) % 4 for a in axes) == [2, 3]:
                node = helper.make_node("GlobalAveragePool", [node.input[0]], list(node.output), name=node.name)
                counts["global_average_pool"] += 1
        rewritten.append(node)
    kept = [node for node in rewritten if id(node) not in removed]
    del graph.node[:]
    graph.node.extend(kept)
    return counts


def narrow_front(proto, max_channels: int = 16) -> list[str]:
    """Names of the nodes before the first convolution that reads or writes more than ``max_channels``.

    The front of a mobile CNN (stem and first block: few channels at high resolution) is where ONNX
    Runtime's integer kernels gain nothing (measured on AVX2: slower than its FP32 NCHWc kernels)
    and where quantization noise is amplified by everything after it. Kept in FP32, its output is
    quantized once. Empty when the first convolution after the stem is already wider.
    """
    if max_channels <= 0:
        return []
    shapes = {init.name: list(init.dims) for init in proto.graph.initializer}
    nodes = list(proto.graph.node)
    for index, node in enumerate(nodes):
        if node.op_type != "Conv" or node.input[1] not in shapes:
            continue
        weight = shapes[node.input[1]]
        groups = int(_attribute(node, "group", 1))
        if weight[0] > max_channels or weight[1] * groups > max_channels:
            front = nodes[:index]
            convs = sum(n.op_type == "Conv" for n in front)
            return [n.name for n in front] if convs > 1 else []
    return []


def prefix_cuts(proto) -> list[tuple[int, int]]:
    """``(node index, convolutions up to it)`` for every node after which exactly one activation tensor
    is still needed: the places where a leading part of a CNN can end (block boundaries, and every
    step of a plain chain). Used to keep the first ``n`` convolutions of a network in FP32."""
    nodes = list(proto.graph.node)
    constants = {init.name for init in proto.graph.initializer}
    constants |= {out for node in nodes if node.op_type == "Constant" for out in node.output}
    last_use: dict[str, int] = {}
    for index, node in enumerate(nodes):
        for name in node.input:
            if name and name not in constants:
                last_use[name] = index
    for output in proto.graph.output:
        last_use[output.name] = len(nodes)
    live = {i.name for i in proto.graph.input if i.name not in constants}
    cuts, convs = [], 0
    for index, node in enumerate(nodes):
        live -= {name for name in node.input if last_use.get(name) == index}
        live |= {out for out in node.output if out and last_use.get(out, -1) > index}
        convs += node.op_type == "Conv"
        if convs and len(live) == 1:
            cuts.append((index, convs))
    return cuts


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
    reduce_range: bool = True,
    front: str = "auto",
    front_channels: int = 16,
    fp32_convs: int = 0,
    keep_fp32: Callable[[str], bool] | None = None,
    agreement_of: Callable[[Path], float] | None = None,
    agreement_target: float = 0.99,
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
    Exact graph rewrites (``simplify_for_int8``) run before quantization.

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

    if front not in FRONT_CHOICES:
        raise FacetrustError(f"unknown front precision {front!r}; choose one of {', '.join(FRONT_CHOICES)}")
    proto = onnx.load(str(fp32_path))
    mode = choose_mode(proto, mode)
    _name_nodes(proto)
    excluded = head_nodes(proto) if keep_head_fp32 else []
    if per_channel is None:
        per_channel = mode == "static"
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
        prepared_proto = onnx.load(str(prepared))
        rewrites = simplify_for_int8(prepared_proto)
        onnx.save(prepared_proto, str(prepared))
        excluded = sorted(set(excluded) | set(input_convs(prepared_proto)))
        if keep_fp32 is not None:  # nodes of the prepared graph the caller keeps FP32 (by name)
            excluded = sorted(set(excluded) | {n.name for n in prepared_proto.graph.node if keep_fp32(n.name)})
        front_nodes = narrow_front(prepared_proto, front_channels)

        def quantize(path: Path, keep: list[str]) -> None:
            _quantize_static(prepared, path, calibration, per_channel, reduce_range, sorted(set(excluded) | set(keep)))

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
    return {"mode": mode, "format": "QDQ static (uint8 activations, int8 weights, MinMax calibration)",
            "per_channel": per_channel, "reduce_range": reduce_range, "calibration_images": int(len(calibration)),
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
                     excluded: list[str]) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(
        str(prepared), str(out), _ArrayReader(calibration, INPUT_NAME), quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
        reduce_range=reduce_range, calibrate_method=CalibrationMethod.MinMax,
        op_types_to_quantize=STATIC_OP_TYPES, nodes_to_exclude=excluded,
    )


def time_models(paths: dict[str, Path], batch: np.ndarray, rounds: int = 30, warmup: int = 3) -> dict[str, float]:
    """Median milliseconds per call of each ONNX file on ``batch``: one thread, calls interleaved
    round-robin (``facetrust.export.bench.time_round_robin``) so that load from other processes hits
    every model alike."""
    from facetrust.export.bench import Runner, ort_call, time_round_robin

    runners = [Runner(name, "ort", ort_call(make_session(path, threads=1)), 0, 0.0) for name, path in paths.items()]
    feed = np.ascontiguousarray(batch, dtype=np.float32)
    times = time_round_robin(runners, feed, rounds, warmup, progress=False, label="front")
    return {runner.model: float(np.median(seconds)) * 1000.0 for runner, seconds in zip(runners, times, strict=True)}


def pixel_noise(images: list[np.ndarray], seed: int = 0, levels: int = 1) -> list[np.ndarray]:
    """Copies of uint8 images with every value moved by a seeded random step in [-levels, levels].

    The FP32 model's agreement with itself on these is the scale against which INT8 disagreement is
    read: a model that changes decisions when pixels move by one intensity level (invisible, smaller
    than JPEG noise) will also change them under quantization, and no quantizer fixes that.
    """
    rng = np.random.default_rng(seed)
    return [np.clip(image.astype(np.int16) + rng.integers(-levels, levels + 1, image.shape), 0, 255).astype(np.uint8)
            for image in images]


def onnx_logits(session, batch: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """(N, 2) logits [attack, bona fide] from an ORT session on a preprocessed batch."""
    name = session.get_inputs()[0].name
    out = [session.run(None, {name: np.ascontiguousarray(batch[i : i + batch_size])})[0]
           for i in range(0, len(batch), batch_size)]
    return np.concatenate(out) if out else np.empty((0, 2), dtype=np.float32)


def onnx_scores(session, batch: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """P(bona fide) from an ORT session on a preprocessed batch."""
    return softmax_bona_fide(onnx_logits(session, batch, batch_size))


def decision_agreement(fp32_scores: np.ndarray, int8_scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Share of samples whose live/spoof decision (``score >= threshold``) is the same in both."""
    fp32_scores = np.asarray(fp32_scores, dtype=np.float64)
    int8_scores = np.asarray(int8_scores, dtype=np.float64)
    if fp32_scores.shape != int8_scores.shape or fp32_scores.size == 0:
        raise ValueError("decision_agreement needs two non-empty score arrays of the same shape")
    same = (fp32_scores >= threshold) == (int8_scores >= threshold)
    return {"agreement": float(same.mean()), "samples": int(same.size), "disagreements": int((~same).sum()),
            "threshold": float(threshold), "max_abs_score_diff": float(np.abs(fp32_scores - int8_scores).max())}


def onnx_decision_logits(session, batch: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """logit(bona fide) - logit(attack) from an ORT session: the log-odds whose sigmoid is the score."""
    logits = onnx_logits(session, batch, batch_size).astype(np.float64)
    return logits[:, 1] - logits[:, 0]


def expected_agreement(fp32_logits: np.ndarray, int8_logits: np.ndarray, threshold: float) -> float:
    """Smooth estimate of decision agreement: the mean over images of the chance that a Gaussian error
    with the observed spread of ``int8 - fp32`` decision logits leaves the image on its side of the
    threshold. Counting flips on a few hundred images moves by 1/N per image near the threshold; this
    uses every image's distance to it, so a choice made on it carries over better to other images."""
    import math

    fp32_logits = np.asarray(fp32_logits, dtype=np.float64)
    spread = float(np.std(np.asarray(int8_logits, dtype=np.float64) - fp32_logits))
    if spread == 0.0:
        return 1.0
    distance = np.abs(fp32_logits - log_odds(threshold)) / spread
    flip = [0.5 * math.erfc(z / math.sqrt(2.0)) for z in distance]  # P(N(0, 1) > z)
    return float(1.0 - np.mean(flip))


def log_odds(threshold: float) -> float:
    """A threshold on P(bona fide) as a threshold on ``onnx_decision_logits`` (clipped to finite)."""
    p = min(max(float(threshold), 1e-12), 1 - 1e-12)
    return float(np.log(p) - np.log1p(-p))


def export_int8(
    model, out: Path, checkpoint_config: dict[str, Any], fp32_info: dict[str, Any], *,
    calib: str | os.PathLike | None, mode: str = "auto", front: str = "auto", reduce_range: bool = True,
    calib_samples: int = 64, agreement_samples: int = 256, agreement_target: float | None = None, log=print,
) -> dict[str, Any]:
    """Write ``out/int8`` (``model.onnx`` + ``config.json``) from ``out/model.onnx`` and report the
    agreement of its decisions with FP32 on held-out images (val/test split of ``calib``).

    ``agreement_target`` (static mode) searches the shortest FP32 prefix of the network whose INT8
    decisions agree with FP32 on at least that share of the *val* images (``quantize_int8``); the
    agreement is then reported on the *test* images only, which the search never saw, and INT8 is
    timed against FP32 here (batch 1, one thread), because the FP32 prefix costs speed."""
    from facetrust.export.onnx import load_sample_images, write_export_config

    folder = out / "int8"
    folder.mkdir(parents=True, exist_ok=True)
    import onnx

    mode = choose_mode(onnx.load(str(out / ONNX_FILE), load_external_data=False), mode)
    calibration, calib_source = None, None
    if mode == "static":
        calib_images, calib_source = load_sample_images(calib, calib_samples, seed=1, splits=("train",), model=model)
        calibration = preprocess_images(calib_images, model.preprocess)
    threshold = checkpoint_config.get("threshold")
    threshold_note = "stored threshold"
    if threshold is None:
        threshold, threshold_note = 0.5, "no stored threshold: 0.5"
    fp32_session = make_session(out / ONNX_FILE)
    search = None
    report_splits: tuple[str, ...] = ("val", "test")
    if agreement_target is not None and mode != "static":
        log(f"int8 ({mode}): --int8-agreement applies to static (CNN) quantization only; ignored")
    if agreement_target is not None and mode == "static":
        from facetrust.data import read_manifest

        if calib is None or not {"val", "test"} <= set(read_manifest(calib)["split"]):
            raise FacetrustError(f"--int8-agreement needs --calib MANIFEST with val and test splits (got {calib}): "
                                 "the FP32 prefix is chosen on the val images and the agreement reported on the "
                                 "test images")
        val_images, _ = load_sample_images(calib, agreement_samples, seed=2, splits=("val",), model=model)
        val_batch = preprocess_images(val_images, model.preprocess)
        val_fp32 = onnx_decision_logits(fp32_session, val_batch)
        val_detail: dict[str, dict[str, float]] = {}
        cut = log_odds(threshold)

        def search(path: Path) -> float:
            # The smaller of the counted agreement and its smooth estimate, so that a prefix is not chosen
            # because the few images near the threshold happened to stay put on val.
            val_int8 = onnx_decision_logits(make_session(path), val_batch)
            counted = decision_agreement(val_fp32, val_int8, cut)["agreement"]  # same decisions, as log-odds
            expected = expected_agreement(val_fp32, val_int8, threshold)
            val_detail[path.stem] = {"counted": round(counted, 6), "expected": round(expected, 6)}
            return min(counted, expected)

        report_splits = ("test",)
    info = quantize_int8(out / ONNX_FILE, folder / ONNX_FILE, mode=mode, calibration=calibration, front=front,
                         reduce_range=reduce_range, agreement_of=search,
                         agreement_target=agreement_target if agreement_target is not None else 0.99)
    held_out, held_source = load_sample_images(calib, agreement_samples, seed=2, splits=report_splits, model=model)
    batch = preprocess_images(held_out, model.preprocess)
    fp32_scores = onnx_scores(fp32_session, batch)
    int8_scores = onnx_scores(make_session(folder / ONNX_FILE), batch)
    if search is not None:
        prefix = info["fp32_prefix"]
        prefix["val_agreement"] = {name.removeprefix("prefix_"): value for name, value in val_detail.items()}
        timings = time_models({"fp32": out / ONNX_FILE, "int8": folder / ONNX_FILE}, batch[:1])
        prefix["int8_vs_fp32_time"] = round(timings["int8"] / timings["fp32"], 3)
        held_source = f"{held_source} (test split; the FP32 prefix was chosen on the val split)"
        log(f"int8: first {prefix['fp32_convs']} of {prefix['total_convs']} convolutions kept in FP32 for "
            f"{agreement_target:.2%} agreement on val (tried {prefix['tried']}; target "
            f"{'reached' if prefix['reached'] else 'NOT reached'}); INT8 takes {prefix['int8_vs_fp32_time']:.2f}x "
            "the time of FP32 here (batch 1, one thread)")
    noise_scores = onnx_scores(fp32_session, preprocess_images(pixel_noise(held_out, seed=3), model.preprocess))
    noise_floor = decision_agreement(fp32_scores, noise_scores, threshold)
    agreement = {**decision_agreement(fp32_scores, int8_scores, threshold), "images": held_source,
                 "threshold_source": threshold_note,
                 "fp32_pixel_noise_agreement": noise_floor["agreement"]}
    log(f"int8 ({info['mode']}): decisions agree with FP32 on {agreement['agreement']:.2%} of "
        f"{agreement['samples']} {held_source} images at threshold {threshold:.4f} ({threshold_note}); "
        f"max |score difference| {agreement['max_abs_score_diff']:.3e}. For scale: FP32 keeps its own "
        f"decision on {noise_floor['agreement']:.2%} of them when every pixel moves by one intensity level")
    export_info = {**{k: v for k, v in fp32_info.items() if k != "parity"}, "precision": "int8",
                   "quantization": {**info, "calibration_source": calib_source}, "agreement_with_fp32": agreement}
    write_export_config(folder, checkpoint_config, export_info)
    return {"folder": str(folder), **export_info}
