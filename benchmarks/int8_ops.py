"""Where does INT8 time go? ONNX Runtime's profiler on FP32 vs INT8 of one student, by kind of layer.

Exports a (random-weight: the architecture sets the speed) student at 224 px, quantizes it the way
``facetrust export --int8`` does (plus, with ``--front int8``, with its narrow front quantized too), runs
each graph ``--runs`` times at batch 1 on one thread with ORT's profiler on, and sums the kernel times
per kind of layer (from timm's module names, which ORT keeps in fused and quantized node names; meant
for the MobileNetV3 / EfficientNet students): depthwise, pointwise, stem, squeeze-excite, the rest.

    .venv/bin/python benchmarks/int8_ops.py --model mobilenetv3_small_100 [--front auto] [--out runs/int8_ops]

The profiler adds overhead per node, so the sums are larger than the wall time of ``facetrust bench``;
compare kinds of layers within one table, not with the benchmark.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def profile(path: Path, batch: np.ndarray, runs: int, prefix: Path, warmup: int = 3) -> dict[str, tuple[str, float]]:
    """Node name -> (op type, mean microseconds per run) from ORT's profiler, over the last ``runs`` of
    ``warmup + runs`` calls (the first calls pay one-off allocation and packing)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    options.enable_profiling = True
    options.profile_file_prefix = str(prefix)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(warmup + runs):
        session.run(None, {"image": batch})
    trace = Path(session.end_profiling())
    durations: dict[str, tuple[str, list[float]]] = {}
    for event in json.loads(trace.read_text()):  # events of a node come in call order
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            name = event["name"][: -len("_kernel_time")]
            durations.setdefault(name, (event["args"]["op_name"], []))[1].append(event["dur"])
    trace.unlink()
    return {name: (op, sum(times[-runs:]) / runs) for name, (op, times) in durations.items()}


def kind_of(name: str, op: str) -> str:
    """Kind of layer of a profiled node, from timm's module names (MobileNetV3 / EfficientNet blocks),
    which ORT keeps in the names of fused and quantized nodes."""
    if "/se/" in name:
        return "squeeze-excite"
    if "conv_dw" in name or "/bn2/" in name:
        return "depthwise conv (+ activation)"
    if "conv_pwl" in name or "/bn3/" in name:
        return "pointwise-linear conv"
    if "conv_pw" in name or ("/blocks" in name and "/bn1/" in name):
        return "pointwise conv (+ activation)"
    if "conv_stem" in name or name.startswith("/backbone/bn1/"):
        return "stem conv (+ activation)"
    if op in ("QuantizeLinear", "DequantizeLinear"):
        return "quantize / dequantize (other)"
    if op in ("HardSigmoid", "HardSwish", "Mul", "QLinearMul", "Relu", "Clip", "QLinearAdd", "Add"):
        return "activations, residual adds"
    if op in ("ReorderInput", "ReorderOutput", "Transpose"):
        return "layout changes"
    return "other (head, pooling)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mobilenetv3_small_100")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--front", choices=("auto", "fp32", "int8"), default="auto")
    parser.add_argument("--out", default="runs/int8_ops")
    args = parser.parse_args()

    import torch

    import facetrust
    from facetrust.export.onnx import export_onnx
    from facetrust.export.quantize import quantize_int8

    torch.manual_seed(0)
    out = Path(args.out) / args.model
    out.mkdir(parents=True, exist_ok=True)
    model = facetrust.create_model(args.model, embed_dim=512, image_size=args.size).eval()
    export_onnx(model, out / "fp32.onnx", exporter="torchscript")
    calibration = np.random.default_rng(0).uniform(-2, 2, (8, 3, args.size, args.size)).astype(np.float32)
    info = quantize_int8(out / "fp32.onnx", out / "int8.onnx", calibration=calibration, front=args.front)
    rows: dict[str, dict[str, float]] = defaultdict(lambda: {"fp32": 0.0, "int8": 0.0})
    for precision in ("fp32", "int8"):
        for name, (op, us) in profile(out / f"{precision}.onnx", calibration[:1], args.runs, out / precision).items():
            rows[kind_of(name, op)][precision] += us / 1000.0
    lines = [f"{args.model}, {args.size} px, batch 1, one thread, ORT profiler, mean of {args.runs} runs; INT8: "
             f"front {info['front']['choice']}, rewrites {info['graph_rewrites']}", "",
             "| layers | FP32 ms | INT8 ms | INT8 / FP32 |", "|---|---:|---:|---:|"]
    for kind, t in sorted(rows.items(), key=lambda kv: -max(kv[1].values())):
        ratio = f"{t['int8'] / t['fp32']:.2f}" if t["fp32"] > 0.005 else "—"
        lines.append(f"| {kind} | {t['fp32']:.3f} | {t['int8']:.3f} | {ratio} |")
    total = {p: sum(t[p] for t in rows.values()) for p in ("fp32", "int8")}
    lines.append(f"| **total** | {total['fp32']:.3f} | {total['int8']:.3f} | {total['int8'] / total['fp32']:.2f} |")
    (out / "ops.md").write_text("\n".join(lines) + "\n")
    (out / "ops.json").write_text(json.dumps({"info": info, "rows": rows}, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
