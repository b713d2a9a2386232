"""Does INT8 keep the decisions of trained students? fas-sim, ONNX Runtime FP32 vs INT8.

For each CNN student: train it briefly on fas-sim (all domains' train split, plain cross-entropy on
the language-guided cosine head), calibrate the threshold at the EER point of the validation split
(``eer@val``), save the checkpoint, export it with ``facetrust.export.export_checkpoint`` (parity
checked; static INT8 calibrated on the train split) and report how often the INT8 decisions agree
with FP32 on the val + test images, plus AUC/HTER of both on test.

    .venv/bin/python benchmarks/bench_models.py --out runs/int8_agreement [--steps 300 --size 64]
        [--subjects 25] [--agreement-target 0.99]

With ``--agreement-target`` the export keeps the shortest FP32 prefix that reaches the target on the
val images, reports agreement on the test images only, and times that mixed graph against FP32 at
64 px (the trained model) and at ``--time-size`` px (the architecture with random weights).
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


def time_at_size(name: str, size: int, manifest: Path, fp32_convs: int, front: str, out: Path,
                 rounds: int = 60) -> float:
    """INT8 / FP32 time (ORT, batch 1, one thread, interleaved) of the architecture at ``size`` px with
    random weights and the same front and FP32 prefix: the speed the deployed 224 px student would have."""
    import torch

    import facetrust
    from facetrust.data import read_image, read_manifest
    from facetrust.export.onnx import export_onnx
    from facetrust.export.quantize import quantize_int8, time_models
    from facetrust.predictor import preprocess_images

    torch.manual_seed(0)
    model = facetrust.create_model(name, embed_dim=512, image_size=size).eval()
    train = read_manifest(manifest).query("split == 'train'").sample(32, random_state=0)
    calibration = preprocess_images([read_image(p) for p in train["abs_path"]], model.preprocess)
    folder = out / name / f"timing_{size}px"
    export_onnx(model, folder / "model.onnx", exporter="torchscript")
    quantize_int8(folder / "model.onnx", folder / "int8.onnx", calibration=calibration, fp32_convs=fp32_convs,
                  front=front)
    timings = time_models({"fp32": folder / "model.onnx", "int8": folder / "int8.onnx"}, calibration[:1], rounds=rounds)
    return round(timings["int8"] / timings["fp32"], 3)


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
    parser.add_argument("--agreement-target", type=float, default=None,
                        help="export with --int8-agreement TARGET: FP32 prefix chosen on val, agreement on test; "
                        "the chosen INT8 graph is then also timed against FP32 at --time-size px (random weights)")
    parser.add_argument("--time-size", type=int, default=224)
    parser.add_argument("--int8-front", choices=("auto", "fp32", "int8"), default="auto")
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
                                    exporter="torchscript", agreement_samples=len(val) + len(test),
                                    int8_agreement=args.agreement_target, int8_front=args.int8_front)
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
        prefix = summary["int8"]["quantization"].get("fp32_prefix")
        if prefix:
            front = "fp32" if rows[-1]["int8_front"] == "fp32" else "int8"
            rows[-1].update({"fp32_convs": prefix["fp32_convs"], "total_convs": prefix["total_convs"],
                             "val_agreement_tried": prefix["tried"],
                             "int8_vs_fp32_time": prefix["int8_vs_fp32_time"],
                             f"int8_vs_fp32_time_{args.time_size}px": time_at_size(name, args.time_size, manifest,
                                                                                   prefix["fp32_convs"], front, out)})
        print(json.dumps(rows[-1]), flush=True)
    (out / "agreement.json").write_text(json.dumps(rows, indent=2) + "\n")
    held_out = "test; FP32 prefix chosen on val" if args.agreement_target else "val+test"
    prefix_head = f" FP32 convs | INT8/FP32 time {args.size} px, {args.time_size} px |" if args.agreement_target else ""
    lines = [f"| student | input | agreement INT8 vs FP32 ({held_out}) | FP32 vs FP32 on ±1-level pixel noise | "
             f"max abs Δscore | test AUC FP32 → INT8 | test HTER FP32 → INT8 |{prefix_head}",
             "|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if args.agreement_target else "")]
    for r in rows:
        prefix_cells = (f" {r['fp32_convs']} of {r['total_convs']} | {r['int8_vs_fp32_time']:.2f}, "
                        f"{r[f'int8_vs_fp32_time_{args.time_size}px']:.2f} |") if "fp32_convs" in r else ""
        lines.append(f"| {r['model']} | {r['size']} px | {r['int8_agreement']:.2%} ({r['disagreements']} of "
                     f"{r['agreement_samples']} differ) | {r['fp32_pixel_noise_agreement']:.2%} | "
                     f"{r['max_abs_score_diff']:.3f} | {r['test_auc_fp32']:.3f} → "
                     f"{r['test_auc_int8']:.3f} | {r['test_hter_fp32']:.3f} → {r['test_hter_int8']:.3f} |{prefix_cells}")
    (out / "agreement.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
