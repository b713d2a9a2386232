"""Does INT8 keep the decisions of trained students? fas-sim, ONNX Runtime FP32 vs INT8.

For each CNN student: train it briefly on fas-sim (all domains' train split, plain cross-entropy on
the language-guided cosine head), calibrate the threshold at the EER point of the validation split
(``eer@val``), save the checkpoint, export it with ``facetrust.export.export_checkpoint`` (parity
checked; static INT8 calibrated on the train split) and report how often the INT8 decisions agree
with FP32 on the val + test images, plus AUC/HTER of both on test.

    .venv/bin/python benchmarks/bench_models.py --out runs/int8_agreement [--steps 300 --size 64]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

CNN_STUDENTS = ("resnet8", "mobilenetv3_small_100", "mobilenetv3_large_100", "efficientnet_lite0")


def train_student(name: str, manifest: Path, size: int, steps: int, seed: int):
    import torch
    import torch.nn.functional as F

    import facetrust
    from facetrust.data import read_image, read_manifest
    from facetrust.predictor import preprocess_images

    facetrust.seed_everything(seed)
    df = read_manifest(manifest)
    train = df[df["split"] == "train"]
    model = facetrust.create_model(name, embed_dim=64, image_size=size)
    x = torch.from_numpy(preprocess_images([read_image(p) for p in train["abs_path"]], model.preprocess))
    y = torch.as_tensor(train["label"].to_numpy())
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        index = torch.randint(len(x), (32,), generator=generator)
        batch = x[index]
        flip = torch.rand(len(batch), generator=generator) < 0.5
        batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
        loss = F.cross_entropy(model(batch), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval(), float(loss)


def scores_of(predictor, df) -> np.ndarray:
    from facetrust.data import read_image

    return predictor.scores([read_image(p) for p in df["abs_path"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/int8_agreement")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subjects", type=int, default=10, help="fas-sim subjects per camera")
    parser.add_argument("--models", default=",".join(CNN_STUDENTS))
    args = parser.parse_args()

    import torch

    import facetrust
    from facetrust.data import make_fas_sim, read_manifest
    from facetrust.export.onnx import export_checkpoint
    from facetrust.export.runtime import OnnxPredictor
    from facetrust.metrics.binary import auc, eer, hter
    from facetrust.predictor import TorchPredictor

    torch.set_num_threads(1)
    out = Path(args.out)
    manifest = out / "fas-sim" / "manifest.csv"
    if not manifest.is_file():
        manifest = make_fas_sim(out / "fas-sim", seed=args.seed, image_size=args.size, subjects_per_domain=args.subjects)
    df = read_manifest(manifest)
    val, test = df[df["split"] == "val"], df[df["split"] == "test"]
    rows = []
    for name in args.models.split(","):
        start = time.time()
        checkpoint = out / name / "checkpoint"
        if (checkpoint / "config.json").is_file():  # trained before: re-export only
            config = json.loads((checkpoint / "config.json").read_text())
            threshold, last_loss = config["threshold"], config["metadata"].get("final_train_loss")  # None: not recorded
        else:
            model, last_loss = train_student(name, manifest, args.size, args.steps, args.seed)
            _, threshold = eer(scores_of(TorchPredictor(model), val), val["label"].to_numpy())
            facetrust.save(model, checkpoint, threshold=threshold, threshold_strategy="eer@val",
                           metadata={"data": str(manifest), "steps": args.steps, "seed": args.seed,
                                     "final_train_loss": last_loss})
        summary = export_checkpoint(checkpoint, out / name / "onnx", calib=manifest, int8=True,
                                    exporter="torchscript", agreement_samples=len(val) + len(test))
        fp32, int8 = OnnxPredictor(out / name / "onnx"), OnnxPredictor(out / name / "onnx" / "int8")
        test_fp32, test_int8 = scores_of(fp32, test), scores_of(int8, test)
        labels = test["label"].to_numpy()
        agreement = summary["int8"]["agreement_with_fp32"]
        rows.append({
            "model": name, "size": args.size, "steps": args.steps, "final_train_loss": None if last_loss is None else round(last_loss, 4),
            "threshold_eer_val": threshold, "parity_fp32": summary["fp32"]["parity"]["max_abs_logit_diff"],
            "int8_agreement": agreement["agreement"], "agreement_samples": agreement["samples"],
            "disagreements": agreement["disagreements"], "max_abs_score_diff": agreement["max_abs_score_diff"],
            "fp32_pixel_noise_agreement": agreement["fp32_pixel_noise_agreement"],
            "int8_front": summary["int8"]["quantization"]["front"]["choice"],
            "test_auc_fp32": auc(test_fp32, labels), "test_auc_int8": auc(test_int8, labels),
            "test_hter_fp32": hter(test_fp32, labels, threshold), "test_hter_int8": hter(test_int8, labels, threshold),
            "seconds": round(time.time() - start, 1),
        })
        print(json.dumps(rows[-1]), flush=True)
    (out / "agreement.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| student | input | agreement INT8 vs FP32 (val+test) | FP32 vs FP32 on ±1-level pixel noise | "
             "max abs Δscore | test AUC FP32 → INT8 | test HTER FP32 → INT8 |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['size']} px | {r['int8_agreement']:.2%} ({r['disagreements']} of "
                     f"{r['agreement_samples']} differ) | {r['fp32_pixel_noise_agreement']:.2%} | "
                     f"{r['max_abs_score_diff']:.3f} | {r['test_auc_fp32']:.3f} → "
                     f"{r['test_auc_int8']:.3f} | {r['test_hter_fp32']:.3f} → {r['test_hter_int8']:.3f} |")
    (out / "agreement.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
