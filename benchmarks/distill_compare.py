"""Compare distillation methods on fas-sim leave-one-domain-out: one student, no KD vs each loss vs a
combination, every fold, several seeds, mean ± std; writes a Markdown table.

    python benchmarks/distill_compare.py --out runs/distill_compare [--seeds 0 1 2] [--iterations 300]

Phases (each resumable: a run whose result.json exists is skipped):
1. teachers: FLIP-IT on clip-tiny per fold and seed (``facetrust.tasks.fas.train_fas``, the demo recipe);
2. students: the same student and recipe for every method, distilled from that fold's teacher;
3. table: HTER, AUC, TPR@FPR=1%, ACER (frame level, threshold eer@val on source validation, mean ±
   std over folds x seeds), params and single-thread CPU latency at batch 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

METHODS: dict[str, dict[str, float]] = {  # weights fixed a priori (no tuning on any target domain)
    "no KD (CE only)": {"ce": 1.0},
    "KD-KL (T=4)": {"ce": 1.0, "kd_kl": 1.0},
    "combination (KL+FD+CRD+RKD-d)": {"ce": 1.0, "kd_kl": 1.0, "feature": 50.0, "crd": 1.0, "rkd_distance": 1.0},
    "CLIP-KD FD": {"ce": 1.0, "feature": 50.0},
    "CLIP-KD CRD": {"ce": 1.0, "crd": 1.0},
    "RKD distance": {"ce": 1.0, "rkd_distance": 1.0},
    "AFD": {"ce": 1.0, "afd": 10.0},
    "KD-MSE": {"ce": 1.0, "kd_mse": 0.01},
    "CLIP-KD ICL": {"ce": 1.0, "icl": 1.0},
    "RKD angle": {"ce": 1.0, "rkd_angle": 2.0},
}
METRICS = (("hter", "HTER %"), ("auc", "AUC %"), ("tpr@fpr=1%", "TPR@FPR=1% %"), ("acer", "ACER %"))


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()


def data_section(args) -> dict:
    """fas-sim with 25 subjects per domain (4 cameras), 64 px, decoded once into memory."""
    sim = {"seed": 0, "image_size": 64, "subjects_per_domain": 25, "frames_per_video": 3,
           "dir": str(Path(args.out) / "fas-sim-25")}
    return {"fas_sim": sim, "cache_images": True}


def teacher_config(args):
    from facetrust.config import from_dict
    from facetrust.tasks.fas_config import FasExperiment

    return from_dict(FasExperiment, {  # the recipe of configs/demo/flip_it_tiny.yaml
        "model": {"name": "flip_it", "clip": "clip-tiny"},
        "data": data_section(args),
        "protocol": {"kind": "leave_one_out"},
        "train": {"iterations": args.teacher_iterations, "per_group": 3, "optimizer": "adamw", "lr": 1e-3,
                  "weight_decay": 0.05, "warmup_iterations": 30, "schedule": "cosine", "val_every": 50,
                  "augment": False, "freeze": ["clip.token_embedding"]},
        "trainer": {"accelerator": "cpu", "num_threads": 1, "progress_bar": False},
        "eval": {"threshold": "eer@val", "select": "val_auc", "n_bootstrap": 0},
        "seeds": list(args.teacher_seeds), "out": str(Path(args.out) / "teacher"), "name": "teacher",
    }, "distill_compare teacher")


def student_config(args, losses: dict[str, float], out: Path):
    from facetrust.config import from_dict
    from facetrust.tasks.distill_config import DistillExperiment

    return from_dict(DistillExperiment, {
        # Every student seed of a fold is distilled from the fold's teacher of seed teacher_seeds[0].
        "teacher": {"checkpoint": str(Path(args.out) / "teacher" / "{protocol}" / f"seed{args.teacher_seeds[0]}"
                                      / "checkpoint"), "cache": True},
        "student": {"name": args.student, "image_size": args.student_size},
        "losses": losses,
        "data": data_section(args),
        "protocol": {"kind": "leave_one_out"},
        "train": {"iterations": args.iterations, "per_group": 3, "lr": 3e-3, "weight_decay": 1e-4,
                  "schedule": "cosine", "val_every": 20, "augment": False},
        "trainer": {"accelerator": "cpu", "num_threads": 1, "progress_bar": False},
        "eval": {"threshold": "eer@val", "select": "val_auc", "n_bootstrap": 0},
        "seeds": list(args.seeds), "out": str(out), "name": "distill",
    }, "distill_compare student")


def run_all(config, runner, out: Path) -> None:
    """Run each (fold, seed) that has no result.json yet."""
    from facetrust.data import read_manifest
    from facetrust.tasks.folds import manifest_for, protocols

    df = read_manifest(manifest_for(config, out))
    for protocol in protocols(config, df):
        for seed in config.seeds:
            run_dir = out / protocol.name / f"seed{seed}"
            if (run_dir / "result.json").is_file():
                continue
            teacher = getattr(getattr(config, "teacher", None), "checkpoint", None)
            if teacher and not Path(teacher.format(protocol=protocol.name, seed=seed)).is_dir():
                print(f"{out.name} {protocol.name} seed{seed}: teacher not trained yet, skipped", flush=True)
                continue
            marker = run_dir / "RUNNING"  # lets several processes share the work
            if marker.exists():
                continue
            run_dir.mkdir(parents=True, exist_ok=True)
            marker.write_text(str(os.getpid()))
            started = time.perf_counter()
            try:
                runner(config, protocol, seed, df, run_dir)
            finally:
                marker.unlink(missing_ok=True)
            print(f"{out.name} {protocol.name} seed{seed}: {time.perf_counter() - started:.0f} s", flush=True)


def cpu_latency_ms(checkpoint: Path, repeats: int = 50) -> float:
    """Median single-thread PyTorch eager latency at batch 1, in ms."""
    import torch

    import facetrust

    torch.set_num_threads(1)
    model = facetrust.load_model(checkpoint).eval()
    x = torch.randn(1, *model.preprocess["input_size"])
    times = []
    with torch.inference_mode():
        for _ in range(5):
            model(x)
        for _ in range(repeats):
            started = time.perf_counter()
            model(x)
            times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def collect(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*/seed*/result.json"))]


def summarise(records: list[dict]) -> dict[str, tuple[float, float, int]]:
    out = {}
    for key, _ in METRICS:
        values = [100 * r["levels"]["frame"]["metrics"][key] for r in records]
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        out[key] = (statistics.mean(values), std, len(values))
    return out


COST_MODELS = (  # (label, factory name, kwargs) at 224 px with random weights: cost does not need training
    ("FLIP-IT ViT-B/16 image tower (teacher)", "flip_it", {"clip": "ViT-B-16", "text_tower": False}),
    ("mobilenetv3_large_100", "mobilenetv3_large_100", {}),
    ("mobilenetv3_small_100", "mobilenetv3_small_100", {}),
    ("efficientnet_lite0", "efficientnet_lite0", {}),
    ("resnet18", "resnet18", {}),
    ("vit_tiny_patch16_224", "vit_tiny_patch16_224", {}),
    ("resnet8", "resnet8", {}),
)


def cost_table(repeats: int = 10) -> str:
    """Parameters used at inference and median single-thread latency at batch 1, 224 px, PyTorch eager."""
    import torch

    import facetrust

    torch.set_num_threads(1)
    lines = ["| model (224 px) | params | CPU ms (b=1) |", "|---|---|---|"]
    for label, name, kwargs in COST_MODELS:
        extra = {} if name.startswith("flip") else {"embed_dim": 512, "image_size": 224}
        model = facetrust.create_model(name, **kwargs, **extra).eval()
        params = sum(p.numel() for p in getattr(model, "visual", model).parameters())
        x = torch.randn(1, 3, 224, 224)
        times = []
        with torch.inference_mode():
            model(x)
            for _ in range(repeats):
                started = time.perf_counter()
                model(x)
                times.append(1000 * (time.perf_counter() - started))
        lines.append(f"| {label} | {params / 1e6:.2f} M | {statistics.median(times):.1f} |")
    return "\n".join(lines)


def inference_params(checkpoint: Path) -> int:
    """Parameters used at inference: a FLIP model's image tower (its text tower never runs)."""
    import facetrust

    model = facetrust.load_model(checkpoint)
    return sum(p.numel() for p in getattr(model, "visual", model).parameters())


def table(args) -> str:
    """The comparison table (frame level, mean ± std over folds x seeds) and HTER per fold."""
    out = Path(args.out)
    rows = [("FLIP-IT teacher (clip-tiny)", collect(out / "teacher"))]
    rows += [(name, collect(out / "students" / slug(name))) for name in METHODS]
    rows = [(name, records) for name, records in rows if records]
    header = "| method | runs | " + " | ".join(label for _, label in METRICS) + " | params | CPU ms (b=1) |"
    lines = [header, "|" + "---|" * (len(METRICS) + 4)]
    for name, records in rows:
        stats = summarise(records)
        checkpoint = Path(records[0]["checkpoint"])
        cells = " | ".join(f"{m:.2f} ± {s:.2f}" for m, s, _ in stats.values())
        lines.append(f"| {name} | {len(records)} | {cells} | {inference_params(checkpoint) / 1e6:.3f} M "
                     f"| {cpu_latency_ms(checkpoint):.2f} |")
    baseline = {(r["protocol"], r["seed"]): r for r in collect(out / "students" / slug(next(iter(METHODS))))}
    lines += ["", "HTER change vs the same student without KD on the same fold and seed (negative = better):", "",
              "| method | pairs | mean Δ HTER (points) | std | pairs better |", "|---|---|---|---|---|"]
    for name, records in rows:
        if name not in METHODS or name == next(iter(METHODS)):
            continue
        deltas = [100 * (r["levels"]["frame"]["metrics"]["hter"] - baseline[key]["levels"]["frame"]["metrics"]["hter"])
                  for r in records if (key := (r["protocol"], r["seed"])) in baseline]
        if deltas:
            std = statistics.stdev(deltas) if len(deltas) > 1 else 0.0
            lines.append(f"| {name} | {len(deltas)} | {statistics.mean(deltas):+.2f} | {std:.2f} "
                         f"| {sum(d < 0 for d in deltas)}/{len(deltas)} |")
    folds = sorted({r["protocol"] for _, records in rows for r in records})
    lines += ["", "HTER % per target domain (mean over the seeds run; n = runs):", "",
              "| method | " + " | ".join(f.split("-")[-1] for f in folds) + " |", "|" + "---|" * (len(folds) + 1)]
    for name, records in rows:
        cells = []
        for fold in folds:
            values = [100 * r["levels"]["frame"]["metrics"]["hter"] for r in records if r["protocol"] == fold]
            cells.append(f"{statistics.mean(values):.1f} (n={len(values)})" if values else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_section(path: Path, heading: str, body: str) -> None:
    """Replace (or append) the section under ``heading`` in a shared Markdown file, nothing else."""
    text = path.read_text() if path.is_file() else "# Results\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        new = text.rstrip("\n") + f"\n\n{heading}\n\n{body.strip()}\n"
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        new = "\n".join(lines[:start] + [heading, "", body.strip(), ""] + lines[end:]).rstrip("\n") + "\n"
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/distill_compare")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--student", default="mobilenetv3_small_100")
    parser.add_argument("--student-size", type=int, default=32, help="student input size (teacher: 64)")
    parser.add_argument("--iterations", type=int, default=80)
    parser.add_argument("--key-methods", type=int, default=3, help="the first N methods run all seeds first")
    parser.add_argument("--teacher-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--teacher-iterations", type=int, default=300)
    parser.add_argument("--methods", nargs="*", default=None, help="subset of method names (default: all)")
    parser.add_argument("--results-md", help="also write the table into this file's '## Distillation' section")
    parser.add_argument("--cost", action="store_true", help="add a 224 px params/latency table incl. ViT-B/16")
    parser.add_argument("--notes", help="Markdown file with the setup text to put above the table")
    parser.add_argument("--phase", choices=["teachers", "students", "table", "all"], default="all")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    if args.phase in ("teachers", "all"):
        from facetrust.tasks.fas import train_one

        run_all(teacher_config(args), train_one, out / "teacher")
    if args.phase in ("students", "all"):
        from facetrust.tasks.distill import check_config, distill_one

        names = args.methods or list(METHODS)
        key, others = names[: args.key_methods], names[args.key_methods :]
        # Priority under a CPU budget: the key methods with every seed, then the others once, then more seeds.
        for group, seeds in ((key, args.seeds), (others, args.seeds[:1]), (others, args.seeds[1:])):
            for name in group:
                run_args = argparse.Namespace(**{**vars(args), "seeds": seeds})
                config = student_config(run_args, METHODS[name], out / "students" / slug(name))
                check_config(config)
                run_all(config, distill_one, out / "students" / slug(name))
    if args.phase in ("table", "all"):
        text = table(args)
        if args.cost:
            text += "\n\nInference cost at FLIP's real input size (random weights; no training needed):\n\n" + cost_table()
        (out / "table.md").write_text(text + "\n")
        print(text)
        if args.results_md:
            notes = Path(args.notes).read_text() if args.notes else ""
            write_section(Path(args.results_md), "## Distillation", notes + "\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
