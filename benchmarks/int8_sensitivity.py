"""Where does INT8 change a trained student's decisions? One stage at a time, ONNX Runtime.

For each checkpoint: export FP32 ONNX, then build INT8 files that quantize a single stage of the
backbone (everything else FP32, the same static QDQ recipe as ``facetrust export --int8``; a stage's
input tensor is quantized with it) and, for comparison, the whole network. For each file: standard deviation of the change of the decision
logit (log-odds of bona fide) and how many decisions flip on the val + test images at the stored
threshold, next to the same for FP32 under ±1-level pixel noise.

    .venv/bin/python benchmarks/int8_sensitivity.py runs/int8_agreement/mobilenetv3_large_100/checkpoint \\
        --manifest runs/int8_agreement/fas-sim/manifest.csv [--out runs/int8_sensitivity]
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

import numpy as np

STAGE = re.compile(r"^(/backbone/(?:blocks/blocks\.\d+|layer\d+|[^/]+))/")


def stage_of(node_name: str) -> str:
    """``/backbone/blocks/blocks.2/...`` -> ``blocks.2``; nodes outside the backbone -> ``head``."""
    match = STAGE.match(node_name)
    return match.group(1).split("/")[-1] if match else "head"


def analyse(checkpoint: Path, manifest: Path, workdir: Path, calib_samples: int) -> list[dict]:
    import onnx

    from facetrust.checkpoint import load_model
    from facetrust.data import read_image, read_manifest
    from facetrust.export import quantize as q
    from facetrust.export.onnx import export_onnx
    from facetrust.export.quantize import onnx_decision_logits as decision_logit
    from facetrust.export.runtime import make_session
    from facetrust.predictor import preprocess_images

    model = load_model(checkpoint)
    cut = q.log_odds(model.checkpoint_config["threshold"])  # the threshold on P(bona fide) as a decision logit
    df = read_manifest(manifest)
    held = df[df["split"].isin(["val", "test"])]
    train = df[df["split"] == "train"].sample(frac=1.0, random_state=1)[:calib_samples]
    held_images = [read_image(p) for p in held["abs_path"]]
    batch = preprocess_images(held_images, model.preprocess)
    calibration = preprocess_images([read_image(p) for p in train["abs_path"]], model.preprocess)
    fp32_path = workdir / "model.onnx"
    export_onnx(model, fp32_path, exporter="torchscript")
    fp32 = make_session(fp32_path)
    reference = decision_logit(fp32, batch)

    def row(label: str, logits: np.ndarray) -> dict:
        flips = int(((logits >= cut) != (reference >= cut)).sum())
        return {"part": label, "logit_change_std": float(np.std(logits - reference)), "flips": flips,
                "images": len(reference)}

    rows = [row("FP32, ±1-level pixel noise", decision_logit(fp32, preprocess_images(q.pixel_noise(held_images, seed=3),
                                                                                     model.preprocess)))]
    proto = onnx.load(str(fp32_path))
    stem = set(q.input_convs(proto))  # always FP32
    # Stages with a convolution that INT8 quantizes; quantizing one also quantizes the tensor it reads.
    stages = list(dict.fromkeys(stage_of(n.name) for n in proto.graph.node if n.op_type == "Conv" and n.name not in stem))
    for stage in [None, *[s for s in stages if s != "head"]]:  # None: the whole network
        path = workdir / f"int8_{stage or 'all'}.onnx"
        q.quantize_int8(fp32_path, path, calibration=calibration, front="int8",
                        keep_fp32=None if stage is None else (lambda name, stage=stage: stage_of(name) != stage))
        rows.append(row("INT8, whole network (stem FP32)" if stage is None else f"INT8, {stage} only",
                        decision_logit(make_session(path), batch)))
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--calib-samples", type=int, default=64)
    parser.add_argument("--out", type=Path, default=None, help="folder for sensitivity.md (printed anyway)")
    args = parser.parse_args()
    lines = []
    for checkpoint in args.checkpoints:
        with tempfile.TemporaryDirectory(prefix="facetrust-sensitivity-") as tmp:
            rows = analyse(checkpoint, args.manifest, Path(tmp), args.calib_samples)
        lines += [f"\n{checkpoint}\n", "| what is perturbed | std of decision-logit change | decisions flipped |",
                  "|---|---:|---:|"]
        lines += [f"| {r['part']} | {r['logit_change_std']:.3f} | {r['flips']} of {r['images']} |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "sensitivity.md").write_text(text)


if __name__ == "__main__":
    main()
