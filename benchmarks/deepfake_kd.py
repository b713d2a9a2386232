"""The deepfake seed's table on deepfake-sim: teacher, ResNet8 without KD, with KD-KL and with KD-MSE
(L = alpha * soft + (1 - alpha) * CE, alpha 0.5, T 4), several seeds, mean ± std, a cross-manipulation
column, and ResNet8 vs EfficientNet-B7 speed at 224 px measured side by side in one run.

    python benchmarks/deepfake_kd.py --out runs/deepfake_kd            # full: 3 seeds (see --help)
    python benchmarks/deepfake_kd.py --out /tmp/dfkd --tiny            # smoke run, a few minutes

Default sizes (chosen for about 12-15 minutes on a quiet 2-core CPU): deepfake-sim with 100 identities
(1200 frames, 64 px, 7:2:1 by subject); teacher timm ``test_efficientnet`` at 64 px, 400 iterations of
32 images (16 real + 16 fake); ResNet8 at 48 px (CIFAR ResNet8 keeps full resolution in its first
stage: 0.40 CPU-s per step at 64 px vs 0.21 at 48 px, one thread), 250 iterations, teacher outputs
cached; 3 seeds;
speed: EfficientNet-B7 and ResNet8 at 224 px plus the trained models' architectures, 20 rounds at
batch 1 and 2 at batch 32. EfficientNet-B7 itself (66M parameters) is far too slow to train on a CPU,
so the table's teacher is a tiny EfficientNet; ``--teacher efficientnet_b7 --image-size 224`` runs the
seed's teacher where a GPU is available.

Protocol (the Self-Blended Images recipe): every model trains on real faces and the self-blended family
(``sbi``) of deepfake-sim's train split, is selected and calibrated (eer@val) on the val split (real +
sbi), and is tested on held-out subjects: real + sbi (in-family, the seed's within-data-set numbers)
and real + swap (cross-manipulation: identity swaps with up-sampling artefacts never seen in training).
Phases are resumable: a run whose result.json exists is reused. Writes ``deepfake_kd.md`` and
``deepfake_kd.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

STUDENTS: dict[str, tuple[dict[str, float], dict[str, object]]] = {  # fixed a priori: the seed's recipe
    "ResNet8 (no KD)": ({"ce": 1.0}, {}),
    "ResNet8 KD-KL": ({"kd": 1.0}, {"alpha": 0.5, "soft": "kl", "temperature": 4.0}),
    "ResNet8 KD-MSE": ({"kd": 1.0}, {"alpha": 0.5, "soft": "mse"}),
}
IN_FAMILY, CROSS = "sbi", "swap"


def common(args, name: str, out: Path) -> dict:
    sim = {"seed": 0, "image_size": args.image_size, "subjects": args.subjects, "frames_per_video": 3,
           "dir": str(Path(args.out) / "deepfake-sim")}
    return {
        "task": "deepfake", "name": name, "out": str(out),
        "data": {"deepfake_sim": sim, "cache_images": True},
        "protocol": {"kind": "split", "train_manipulations": [IN_FAMILY]},
        "trainer": {"accelerator": "auto", "num_threads": 0, "progress_bar": False},
        "eval": {"threshold": "eer@val", "select": "val_auc", "n_bootstrap": 0},
    }


def train_teacher(args, seed: int) -> Path:
    from facetrust.config import from_dict
    from facetrust.tasks.fas import train_fas
    from facetrust.tasks.fas_config import FasExperiment

    out = Path(args.out) / "teacher"
    run = out / f"{IN_FAMILY}-to-all" / f"seed{seed}"
    if not (run / "result.json").is_file():
        config = from_dict(FasExperiment, {
            **common(args, "deepfake_teacher", out), "seeds": [seed],
            "model": {"name": args.teacher, "image_size": args.image_size},
            "train": {"iterations": args.teacher_iterations, "per_group": 16, "optimizer": "adamw", "lr": 3e-3,
                      "weight_decay": 1e-4, "warmup_iterations": 20, "schedule": "cosine", "augment": False,
                      "val_every": max(10, args.teacher_iterations // 6), "eval_batch_size": 128},
        }, "deepfake_kd teacher")
        train_fas(config)
    return run / "checkpoint"


def train_student(args, seed: int, name: str, teacher: Path) -> Path:
    from facetrust.config import from_dict
    from facetrust.tasks.distill import distill
    from facetrust.tasks.distill_config import DistillExperiment

    losses, options = STUDENTS[name]
    out = Path(args.out) / "students" / "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()
    run = out / f"{IN_FAMILY}-to-all" / f"seed{seed}"
    if not (run / "result.json").is_file():
        config = from_dict(DistillExperiment, {
            **common(args, name, out), "seeds": [seed],
            "teacher": {"checkpoint": str(teacher), "cache": True},
            "student": {"name": "resnet8", "image_size": args.student_size},
            "losses": losses, "loss_options": options,
            "train": {"iterations": args.student_iterations, "per_group": 16, "optimizer": "adamw", "lr": 3e-3,
                      "weight_decay": 1e-4, "schedule": "cosine", "augment": False,
                      "val_every": max(10, args.student_iterations // 6), "eval_batch_size": 128},
        }, f"deepfake_kd {name}")
        distill(config)
    return run / "checkpoint"


def evaluate_families(checkpoint: Path, manifest: Path) -> dict:
    """In-family (real + sbi) and cross (real + swap) test metrics, eer@val on val (real + sbi)."""
    from facetrust.tasks.binary import evaluate_by_manipulation

    return evaluate_by_manipulation(checkpoint, manifest, (IN_FAMILY,), (IN_FAMILY, CROSS))


def mean_std(values: list[float]) -> str:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def accuracy_table(results: dict[str, list[dict]]) -> str:
    head = ("| model | params (M) | ACC % | F1 % | ACC@0.5 % | F1@0.5 % | AUC % | EER % | AP % | video AUC % "
            f"| cross ({CROSS}) AUC % | cross ACC % |")
    lines = [head, "|---|---:|" + "---:|" * 10]
    for name, runs in results.items():
        f = [r[IN_FAMILY]["frame"] for r in runs]
        cells = [mean_std([m[k] for m in f]) for k in ("accuracy", "f1", "accuracy@0.5", "f1@0.5", "auc", "eer", "ap")]
        cells.append(mean_std([r[IN_FAMILY]["video"]["auc"] for r in runs]))
        cells += [mean_std([r[CROSS]["frame"][k] for r in runs]) for k in ("auc", "accuracy")]
        lines.append(f"| {name} | {runs[0]['params'] / 1e6:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def measure_speed(args) -> dict:
    from facetrust.export.bench import time_models
    from facetrust.models import create_model

    big = "test_efficientnet" if args.tiny else "efficientnet_b7"
    models = {f"{big} (teacher architecture)": create_model(big, image_size=224),
              "resnet8 (student)": create_model("resnet8", image_size=224),
              f"{args.teacher} (trained teacher, {args.image_size} px)": create_model(args.teacher, image_size=args.image_size),
              f"resnet8 (trained student, {args.student_size} px)": create_model("resnet8", image_size=args.student_size)}
    return time_models(models, batch=32, rounds_b1=args.speed_rounds, rounds_bn=max(2, args.speed_rounds // 10),
                       threads=args.threads or None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/deepfake_kd")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--subjects", type=int, default=100, help="deepfake-sim identities (7:2:1 split)")
    parser.add_argument("--image-size", type=int, default=64, help="deepfake-sim and teacher input side")
    parser.add_argument("--student-size", type=int, default=48, help="ResNet8 input side (the teacher sees its own view)")
    parser.add_argument("--teacher", default="test_efficientnet", help="timm model trained as the teacher")
    parser.add_argument("--teacher-iterations", type=int, default=400)
    parser.add_argument("--student-iterations", type=int, default=250)
    parser.add_argument("--speed-rounds", type=int, default=20, help="timing rounds at batch 1 (batch 32: a tenth)")
    parser.add_argument("--threads", type=int, default=0, help="threads for timing (0 = all cores)")
    parser.add_argument("--tiny", action="store_true", help="smoke run: 1 seed, 20 subjects, 20 iterations")
    args = parser.parse_args(argv)
    if args.tiny:
        args.seeds, args.subjects, args.teacher_iterations, args.student_iterations, args.speed_rounds = [0], 20, 20, 20, 3
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {"teacher": [], **{name: [] for name in STUDENTS}}
    manifest = out / "deepfake-sim" / "manifest.csv"
    for seed in args.seeds:
        teacher = train_teacher(args, seed)
        results["teacher"].append(evaluate_families(teacher, manifest))
        for name in STUDENTS:
            results[name].append(evaluate_families(train_student(args, seed, name, teacher), manifest))
    results[f"teacher ({args.teacher}, {args.image_size} px)"] = results.pop("teacher")
    results = {k: results[k] for k in [next(k for k in results if k.startswith("teacher")), *STUDENTS]}
    train_minutes = (time.perf_counter() - started) / 60
    speed = measure_speed(args)
    from facetrust.export.bench import time_models_markdown

    command = "python benchmarks/deepfake_kd.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = (f"## Deepfake detection: knowledge distillation on deepfake-sim\n\n"
            f"`{command}` ({train_minutes:.1f} min of training and evaluation, then the timing).\n\n"
            f"deepfake-sim, {args.subjects} identities split 7:2:1 by subject, {args.image_size} px; trained on real + "
            f"self-blended ({IN_FAMILY}) train images; threshold eer@val and model selection on val (real + {IN_FAMILY}); "
            f"tested on held-out subjects. Frame level unless marked; ACC/F1 at the calibrated threshold (F1 of the "
            f"real class), @0.5 at the uncalibrated 0.5. Cross = the same models on real + {CROSS} test images. "
            f"Seeds {args.seeds}: mean ± std (ddof 1). Teacher {args.teacher} at {args.image_size} px, "
            f"{args.teacher_iterations} iterations; ResNet8 at {args.student_size} px, {args.student_iterations} "
            f"iterations, KD: alpha 0.5, T 4 (KL).\n\n{accuracy_table(results)}\n\n"
            f"### Speed, side by side in one run\n\nRandom weights (speed depends on the architecture only).\n\n{time_models_markdown(speed)}")
    (out / "deepfake_kd.md").write_text(text)
    (out / "deepfake_kd.json").write_text(json.dumps({"command": command, "args": vars(args), "results": results,
                                                      "speed": speed}, indent=2, default=float))
    print(text)
    print(f"written: {out / 'deepfake_kd.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
