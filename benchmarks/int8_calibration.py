"""INT8 calibration choices side by side on this CPU: MinMax, Entropy and Percentile activation ranges,
each with per-channel weights on/off and 7-bit weights (``reduce_range``, what AVX2 without VNNI needs)
on/off. For each: val decisions flipped against FP32 (beside FP32's own flips under +-1-level pixel
noise, the floor ``facetrust export --precision auto`` compares with) and INT8 / FP32 time at batch 1
(``facetrust.export.timing``, ORT only, round-robin).

    .venv/bin/python benchmarks/int8_calibration.py --checkpoint CKPT --manifest fas-sim/manifest.csv \\
        --out runs/int8_calibration [--threads 1] [--rounds 30] [--methods minmax,entropy,percentile]

Without ``--checkpoint`` a random-weight ``--student`` (default mobilenetv3_small_100, 64 px) is used,
which says nothing about agreement of a trained model; give a trained checkpoint for that.
Writes ``OUT/int8_calibration.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--student", default="mobilenetv3_small_100")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--manifest", required=True, help="fas-sim (or any) manifest with train and val splits")
    parser.add_argument("--out", default="runs/int8_calibration")
    parser.add_argument("--methods", default="minmax,entropy,percentile")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calib-samples", type=int, default=64)
    parser.add_argument("--val-samples", type=int, default=256)
    args = parser.parse_args(argv)

    import torch

    import facetrust
    from facetrust.errors import FacetrustError
    from facetrust.export.agreement import decision_agreement, onnx_scores, pixel_noise
    from facetrust.export.artifacts import load_sample_images
    from facetrust.export.onnx import export_onnx
    from facetrust.export.quantize import quantize_int8
    from facetrust.export.runtime import make_session
    from facetrust.export.timing import machine_info, time_onnx_files
    from facetrust.predictor import preprocess_images

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.checkpoint:
        model = facetrust.load_model(args.checkpoint)
        threshold = model.threshold if model.threshold is not None else 0.5
    else:
        model = facetrust.create_model(args.student, embed_dim=64, image_size=args.size)
        threshold = None
    model.eval()
    calib_images, _ = load_sample_images(args.manifest, args.calib_samples, seed=1, splits=("train",), model=model)
    calibration = preprocess_images(calib_images, model.preprocess)
    val_images, source = load_sample_images(args.manifest, args.val_samples, seed=2, splits=("val",), model=model)
    val = preprocess_images(val_images, model.preprocess)
    fp32_path = out / "fp32" / "model.onnx"
    export_onnx(model, fp32_path, exporter="torchscript")
    fp32 = make_session(fp32_path)
    fp32_scores = onnx_scores(fp32, val)
    if threshold is None:  # random weights: the median score, so that decisions split in half
        import numpy as np

        threshold = float(np.median(fp32_scores))
    noise = decision_agreement(fp32_scores, onnx_scores(fp32, preprocess_images(pixel_noise(val_images, seed=3),
                                                                                model.preprocess)), threshold)
    rows = []
    for method, per_channel, reduce_range in itertools.product(args.methods.split(","), (True, False), (True, False)):
        name = f"{method}-{'pc' if per_channel else 'pt'}-{'7bit' if reduce_range else '8bit'}"
        path = out / name / "model.onnx"
        t0 = time.perf_counter()
        try:
            quantize_int8(fp32_path, path, mode="static", calibration=calibration, per_channel=per_channel,
                          reduce_range=reduce_range, calibration_method=method)
        except FacetrustError as err:  # recorded, the other combinations go on
            print(f"{name}: {err}", flush=True)
            rows.append({"name": name, "method": method, "per_channel": per_channel, "reduce_range": reduce_range,
                         "error": str(err)})
            continue
        seconds = time.perf_counter() - t0
        agreement = decision_agreement(fp32_scores, onnx_scores(make_session(path), val), threshold)
        ms = time_onnx_files({"fp32": fp32_path, "int8": path}, val[:1], rounds=args.rounds, threads=args.threads)
        rows.append({"name": name, "method": method, "per_channel": per_channel, "reduce_range": reduce_range,
                     "int8_flips": agreement["disagreements"], "agreement": agreement["agreement"],
                     "max_abs_score_diff": agreement["max_abs_score_diff"], "fp32_ms": round(ms["fp32"], 3),
                     "int8_ms": round(ms["int8"], 3), "quantize_s": round(seconds, 1)})
        print(f"{name}: {agreement['disagreements']} flips, INT8 {ms['int8']:.2f} ms vs FP32 {ms['fp32']:.2f} ms", flush=True)
    result = {"machine": machine_info(args.threads), "model": args.checkpoint or f"{args.student} (random weights)",
              "threshold": threshold, "val_images": source, "val_samples": noise["samples"],
              "fp32_pixel_noise_flips": noise["disagreements"], "rows": rows,
              "seconds": round(time.perf_counter() - started, 1)}
    (out / "int8_calibration.json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["machine"]
    lines = [f"Model {result['model']}, {noise['samples']} val images ({source}), threshold {threshold:.4f}; FP32 flips "
             f"{noise['disagreements']} of its own decisions under +-1-level pixel noise. {m['cpu']}, {args.threads} "
             f"thread(s), load {', '.join(f'{v:.2f}' for v in m['load_avg_1_5_15'])}; {m['date_utc']} UTC.", "",
             "| calibration | per-channel | weights | INT8 flips | agreement | INT8 ms | FP32 ms | INT8/FP32 |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | {r['per_channel']} | {'7-bit' if r['reduce_range'] else '8-bit'} | "
                         f"failed: {r['error'][:80]} | | | | |")
            continue
        lines.append(f"| {r['method']} | {r['per_channel']} | {'7-bit' if r['reduce_range'] else '8-bit'} | "
                     f"{r['int8_flips']} | {r['agreement']:.2%} | {r['int8_ms']:.2f} | {r['fp32_ms']:.2f} | "
                     f"{r['int8_ms'] / r['fp32_ms']:.2f} |")
    (out / "int8_calibration.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
