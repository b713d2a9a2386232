"""Face verification on face-id-sim: iResNet-18 and MobileFaceNet with ArcFace, CosFace and softmax,
a MobileFaceNet distilled from dlib-resnet, and dlib-resnet itself; then params, GFLOPs and latency
(PyTorch eager and ONNX Runtime FP32) side by side in one run.

    .venv/bin/python benchmarks/face_verification.py --out runs/face_verification [--steps 150]

Every trained model: LFW protocol on the test pairs (10 folds, mean ± std; identities disjoint from
training), threshold chosen on the training-side pairs. face-id-sim is built from 25x25 faces, so the
models train at ``--size`` 32 px (no information is lost) and are timed at ``--time-size`` 112 px, the
architecture's real input, with random weights; dlib-resnet is timed on its own 150x150 chips (dlib's
runtime, no ONNX). face-id-sim is a pipeline benchmark, not a face-recognition benchmark.
``--quick`` is a smoke test (40 identities x 4 views, 4 steps, tiny timing).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

BACKBONES = (("iresnet18", 512), ("mobilefacenet", 128))
HEADS = (("arcface", 32.0, 0.5), ("cosface", 32.0, 0.35), ("softmax", 1.0, None))


def experiment(name: str, embedding: int, head: tuple, args, sim_dir: Path):
    from facetrust.config import from_dict
    from facetrust.tasks.face_config import FaceExperiment

    kind, s, m = head
    return from_dict(FaceExperiment, {
        "task": "face", "name": f"{name}-{kind}",
        "model": {"name": name, "embedding_size": embedding, "input_size": args.size},
        "head": {"kind": kind, "s": s, "m": m},
        "data": {"face_id_sim": {"image_size": args.size, "dir": str(sim_dir), "pairs_per_fold": args.pairs_per_fold}},
        "train": {"iterations": args.steps, "batch_size": args.batch, "optimizer": "adamw", "lr": 2e-3,
                  "weight_decay": 5e-4, "val_every": max(1, args.steps // 4), "eval_batch_size": 256},
        "trainer": {"accelerator": "cpu", "progress_bar": False, "num_threads": args.threads},
        "distill": {"teacher": "dlib-resnet", "mse": 1.0, "rkd_distance": 1.0, "rkd_angle": 2.0, "margin": 1.0},
        "seeds": [args.seed],
    })


def row(label: str, head: str, record: dict, seconds: float) -> dict:
    test, val = record["test_pairs"], record["train_pairs"]
    return {"model": label, "head": head, "accuracy": test["accuracy"], "accuracy_std": test["accuracy_std"],
            "auc": test["auc"], "tar@far=1e-2": test["tar@far=1e-2"], "tar@far=1e-3": test["tar@far=1e-3"],
            "train_side_accuracy": val["accuracy"], "threshold_cosine": record["threshold_cosine"],
            "seconds": round(seconds, 1), **({"decision_agreement": record["decision_agreement"]}
                                            if "decision_agreement" in record else {})}


def finished_or_run(run, config, folder: Path) -> tuple[dict, float]:
    """A run's record and its training seconds: reused when ``folder`` holds a finished run (summary.json)
    of the same model and steps, so an interrupted benchmark resumes; trained otherwise."""
    import yaml

    summary_file, config_file = folder / "summary.json", folder / "config.yaml"
    if summary_file.is_file() and config_file.is_file():
        saved = yaml.safe_load(config_file.read_text())
        if saved.get("train", {}).get("iterations") == config.train.iterations and \
                saved.get("model", {}).get("name") == config.model.name:
            print(f"reusing {folder} (a finished run with the same model and steps)", flush=True)
            record = json.loads(summary_file.read_text())["runs"][0]
            return record, float(record.get("train_seconds", 0.0))
    started = time.perf_counter()
    summary = run(config, str(folder))
    return summary["runs"][0], time.perf_counter() - started


def untrained_row(data, args) -> dict:
    """iResNet-18 with random weights (seeded): the floor a trained model must clear on face-id-sim."""
    import torch

    from facetrust.models import create_model
    from facetrust.tasks.face import torch_embed_fn, verification

    torch.manual_seed(args.seed)
    model = create_model("iresnet18", input_size=args.size).eval()
    embed = torch_embed_fn(model, model.preprocess)
    started = time.perf_counter()
    val = verification(embed, data.train_pairs, data.images)
    test = verification(embed, data.test_pairs, data.images)
    record = {"test_pairs": test, "train_pairs": val, "threshold_cosine": val["threshold_cosine"]}
    return row("iresnet18, untrained (random weights)", "-", record, time.perf_counter() - started)


def dlib_row(data, folds: int) -> tuple[dict, float]:
    from facetrust.face.embedder import load_embedder
    from facetrust.tasks.face import verification

    embedder = load_embedder("dlib-resnet")
    started = time.perf_counter()
    val = verification(embedder.embed_aligned, data.train_pairs, data.images, folds)
    test = verification(embedder.embed_aligned, data.test_pairs, data.images, folds)
    record = {"test_pairs": test, "train_pairs": val, "threshold_cosine": val["threshold_cosine"]}
    chip = np.ascontiguousarray(np.random.default_rng(0).integers(0, 255, (150, 150, 3), dtype=np.uint8))
    times = []
    for _ in range(10):
        t = time.perf_counter()
        embedder.recogniser.compute_face_descriptor(chip)
        times.append(time.perf_counter() - t)
    return row("dlib-resnet (pretrained)", "-", record, time.perf_counter() - started), float(np.median(times) * 1000)


def markdown(rows: list[dict], timing_md: str, dlib_ms: float, args, machine: str) -> str:
    lines = [f"face-id-sim verification (test pairs, 10 folds, mean ± std; threshold from training-side pairs), "
             f"{args.steps} steps x batch {args.batch} at {args.size} px, seed {args.seed}; {machine}",
             "", "| model | head | accuracy % | AUC % | TAR@FAR=1e-2 % | TAR@FAR=1e-3 % | train-side acc. % | "
             "agreement with teacher % | train s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        agreement = f"{100 * r['decision_agreement']:.1f}" if "decision_agreement" in r else "-"
        lines.append(f"| {r['model']} | {r['head']} | {100 * r['accuracy']:.2f} ± {100 * r['accuracy_std']:.2f} | "
                     f"{100 * r['auc']:.2f} | {100 * r['tar@far=1e-2']:.1f} | {100 * r['tar@far=1e-3']:.1f} | "
                     f"{100 * r['train_side_accuracy']:.2f} | {agreement} | {r['seconds']} |")
    lines += ["", f"Speed at {args.time_size}x{args.time_size} (random weights; the margin head is not part of "
              "the exported model):", "", timing_md, "",
              f"dlib-resnet: {dlib_ms:.1f} ms per 150x150 chip (dlib's runtime, one call; the flip rule doubles it)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/face_verification")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--identities", type=int, default=100)
    parser.add_argument("--train-identities", type=int, default=60)
    parser.add_argument("--views", type=int, default=10)
    parser.add_argument("--val-views", type=int, default=3)
    parser.add_argument("--size", type=int, default=32, help="training input size (face-id-sim faces are 25x25)")
    parser.add_argument("--time-size", type=int, default=112)
    parser.add_argument("--pairs-per-fold", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke test: 4 steps, 16 px timing, few rounds")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.batch, args.time_size, args.pairs_per_fold = 4, 16, 32, 2
        args.identities, args.train_identities, args.views, args.val_views = 40, 20, 4, 2
    import torch

    from facetrust.data.sim.face_id_sim import make_face_id_sim
    from facetrust.export.bench import time_models, time_models_markdown
    from facetrust.models import create_model
    from facetrust.tasks.face import FaceData, train_face
    from facetrust.tasks.face_distill import distill_face

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    sim_dir = out / f"face-id-sim-{args.size}"
    if not (sim_dir / "manifest.csv").is_file():
        make_face_id_sim(sim_dir, seed=args.seed, image_size=args.size, identities=args.identities,
                         train_identities=args.train_identities, views=args.views, val_views=args.val_views,
                         pairs_per_fold=args.pairs_per_fold)
    rows = []
    data = FaceData(experiment("mobilefacenet", 128, HEADS[0], args, sim_dir), out)
    rows.append(untrained_row(data, args))  # what pixels alone give on face-id-sim: the floor to beat
    for name, embedding in BACKBONES:
        for head in HEADS:
            config = experiment(name, embedding, head, args, sim_dir)
            record, seconds = finished_or_run(train_face, config, out / f"{name}-{head[0]}")
            rows.append(row(name, head[0], record, seconds))
            print(json.dumps(rows[-1]), flush=True)
    config = experiment("mobilefacenet", 128, HEADS[0], args, sim_dir)
    record, seconds = finished_or_run(distill_face, config, out / "mobilefacenet-distilled")
    rows.append(row("mobilefacenet distilled from dlib-resnet", "arcface + MSE + RKD", record, seconds))
    print(json.dumps(rows[-1]), flush=True)
    dlib, dlib_ms = dlib_row(data, 10)
    rows.append(dlib)
    print(json.dumps(rows[-1]), flush=True)
    models = {f"{n} ({e}-d)": create_model(n, embedding_size=e, input_size=args.time_size) for n, e in BACKBONES}
    rounds = (3, 1) if args.quick else (30, 3)
    timing = time_models(models, batch=8 if args.quick else 32, rounds_b1=rounds[0], rounds_bn=rounds[1],
                         threads=args.threads or None)
    machine = f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end"
    text = markdown(rows, time_models_markdown(timing), dlib_ms, args, machine)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"rows": rows, "timing": timing, "dlib_ms_per_chip": dlib_ms,
                                                  "args": vars(args)}, indent=2, default=float))
    (out / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
