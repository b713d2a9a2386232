"""FLIP's pretraining ablation at toy scale: FLIP-V / FLIP-IT / FLIP-MCL from a random clip-tiny vs from
clip-tiny pretrained on the captioned corpus, fas-sim leave one domain out (4 folds), several seeds.

    python benchmarks/flip_pretraining.py --seeds 0,1,2 --iterations 100 --jobs 2 --results docs/results.md

1. builds the captioned corpus and pretrains clip-tiny on it (``task: clip``; cached in
   ``<out>/clip/``), recording its held-out retrieval and zero-shot numbers;
2. trains every model with each initialisation on every fold and seed through
   ``facetrust.tasks.fas.train_fas`` (the configs in ``configs/demo/``: model selection and the
   eer@val threshold on SOURCE validation; the target domain is only seen at test);
3. writes one table (frame level; per seed the 4 folds are averaged, then mean ± std over seeds)
   between the flip-pretraining markers of ``--results``.

``--lfw-faces`` adds a third arm pretrained on a corpus whose subjects are half LFW crops (fas-sim's
base photos: it breaks the no-target-leak rule on purpose), to measure what sharing them changes.
``--jobs N`` runs N arms in parallel processes, one thread each. Finished arms are reused.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flip_loo import write_section  # noqa: E402  (the marked-section writer of the FLIP benchmarks)

START, END = "<!-- flip-pretraining:start -->", "<!-- flip-pretraining:end -->"
METRICS = (("hter", "HTER %"), ("auc", "AUC %"), ("eer", "EER %"), ("tpr@fpr=1%", "TPR@FPR=1% %"))
CONFIGS = {"flip_v": "configs/demo/flip_v_tiny.yaml", "flip_it": "configs/demo/flip_it_tiny.yaml",
           "flip_mcl": "configs/demo/flip_mcl_tiny.yaml"}


def pretrain(out: Path, args, lfw_faces: bool) -> dict:
    """Pretrain clip-tiny once (reused when ``report.json`` exists)."""
    folder = out / ("clip-lfw" if lfw_faces else "clip")
    if (folder / "report.json").is_file():
        return json.loads((folder / "report.json").read_text())
    import torch

    from facetrust.config import load_config
    from facetrust.tasks.clip import train_clip
    from facetrust.tasks.clip_config import ClipExperiment

    threads = args.jobs * args.threads  # the pretraining runs alone, before the parallel arms
    torch.set_num_threads(threads)
    overrides = [f"train.iterations={args.clip_iterations}", f"data.corpus.n_subjects={args.corpus_subjects}",
                 f"data.corpus.lfw_faces={str(lfw_faces).lower()}", "trainer.progress_bar=false",
                 f"trainer.num_threads={threads}", *args.clip_set]
    train_clip(load_config(args.clip_config, ClipExperiment, overrides), str(folder))
    return json.loads((folder / "report.json").read_text())


def run_arm(model: str, init: str, weights: str | None, args_dict: dict) -> tuple[str, float]:
    """Train one (model, initialisation) arm on every fold and seed; returns (arm, seconds)."""
    import torch

    from facetrust.config import load_config
    from facetrust.tasks.fas import train_fas
    from facetrust.tasks.fas_config import FasExperiment

    arm = f"{model}-{init}"
    folder = Path(args_dict["out"]) / arm
    missing = missing_seeds(folder, [int(s) for s in str(args_dict["seeds"]).split(",")])
    if not missing:
        return arm, 0.0
    if (folder / "summary.json").is_file():  # a finished arm with fewer seeds: add the others beside it
        folder = folder / ("more-seeds-" + "-".join(map(str, missing)))
    torch.set_num_threads(args_dict["threads"])
    overrides = [f"train.iterations={args_dict['iterations']}", f"seeds=[{','.join(map(str, missing))}]",
                 f"data.fas_sim.subjects_per_domain={args_dict['subjects']}", "trainer.progress_bar=false",
                 f"trainer.num_threads={args_dict['threads']}",
                 f"data.fas_sim.dir={Path(args_dict['out']) / 'fas-sim'}",
                 f"model.pretrained={weights if weights else 'null'}", *args_dict["fas_set"]]
    started = time.perf_counter()
    train_fas(load_config(CONFIGS[model], FasExperiment, overrides), str(folder))
    return arm, time.perf_counter() - started


def arm_summaries(folder: Path) -> list[dict]:
    """An arm's summary.json and those of seeds added later (``more-seeds-*``), each with its own seeds."""
    files = [folder / "summary.json", *sorted(folder.glob("more-seeds-*/summary.json"))]
    return [json.loads(f.read_text()) for f in files if f.is_file()]


def missing_seeds(folder: Path, seeds: list[int]) -> list[int]:
    done = {int(s) for summary in arm_summaries(folder) for s in summary["seeds"]}
    return [s for s in seeds if s not in done]


def seed_average(summaries: list[dict], key: str, level: str = "frame") -> np.ndarray:
    """Per seed, the mean over folds of one metric, over every summary of the arm: (n_seeds,)."""
    per_seed = []
    for summary in summaries:
        per_fold = [agg["levels"][level][key]["values"] for agg in summary["summary"].values()]
        per_seed.extend(np.array(per_fold, dtype=float).mean(axis=0))
    return np.array(per_seed, dtype=float)


def table(out: Path, arms: list[str], level: str = "frame") -> str:
    rows = ["| model | initialisation | " + " | ".join(t for _, t in METRICS) + " |", "|" + "---|" * (len(METRICS) + 2)]
    for arm in arms:
        summaries = arm_summaries(out / arm)
        model, init = arm.split("-", 1)
        cells = []
        for key, _ in METRICS:
            values = seed_average(summaries, key, level)
            std = values.std(ddof=1) if values.size > 1 else 0.0
            cells.append(f"{100 * values.mean():.1f} ± {100 * std:.1f}" if values.size > 1 else f"{100 * values.mean():.1f}")
        rows.append(f"| {model} | {init} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def clip_lines(report: dict, label: str) -> str:
    r = report["retrieval"]["test"]
    z = report["zero_shot"]
    zs = ", ".join(f"{k} {100 * v['balanced_accuracy']:.0f}% (chance {100 * v['chance_balanced']:.0f}%)"
                   for k, v in z.items())
    return (f"- {label}: held-out test images {int(r['images'])} (chance R@1 {100 * r['chance@1']:.2f}%): "
            f"image->text R@1 {100 * r['i2t_r@1']:.1f}%, R@5 {100 * r['i2t_r@5']:.1f}%; text->image R@1 "
            f"{100 * r['t2i_r@1']:.1f}%, R@5 {100 * r['t2i_r@5']:.1f}%; {report['train_seconds']:.0f} s of training. "
            f"Zero-shot balanced accuracy: {zs}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="flip_v,flip_it,flip_mcl")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--iterations", type=int, default=100, help="FLIP training iterations per run")
    parser.add_argument("--subjects", type=int, default=25, help="fas-sim subjects per domain")
    parser.add_argument("--clip-config", default="configs/clip/clip_tiny.yaml")
    parser.add_argument("--clip-iterations", type=int, default=600)
    parser.add_argument("--corpus-subjects", type=int, default=200)
    parser.add_argument("--lfw-faces", action="store_true", help="add an arm pretrained with LFW faces in the corpus")
    parser.add_argument("--jobs", type=int, default=2, help="arms trained in parallel (one thread each)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--out", default="runs/bench/flip_pretraining")
    parser.add_argument("--results", default=None, help="Markdown file whose flip-pretraining section is replaced")
    parser.add_argument("--set", dest="fas_set", action="append", default=[], metavar="KEY=VALUE",
                        help="override in every FLIP config, e.g. train.lr=3e-4")
    parser.add_argument("--clip-set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    reports = {"pretrained": pretrain(out, args, lfw_faces=False)}
    if args.lfw_faces:
        reports["pretrained-lfw"] = pretrain(out, args, lfw_faces=True)
    models = args.models.split(",")
    inits = {"random": None, **{name: r["weights"] for name, r in reports.items()}}
    jobs = [(m, i, w) for m in sorted(models, key=lambda m: m != "flip_mcl") for i, w in inits.items()]
    shared = {"out": str(out), "iterations": args.iterations, "seeds": args.seeds, "subjects": args.subjects,
              "threads": args.threads, "fas_set": args.fas_set}
    if not (out / "fas-sim" / "manifest.csv").is_file():  # built once, before the parallel arms
        from facetrust.data import make_fas_sim

        make_fas_sim(out / "fas-sim", seed=0, image_size=64, subjects_per_domain=args.subjects, frames_per_video=3)
    seconds = {}
    # spawn, not fork: the parent has run torch (OpenMP pools do not survive a fork)
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for arm, s in pool.map(run_arm, *zip(*jobs, strict=True), [shared] * len(jobs)):
            seconds[arm] = s
            print(f"{arm} done ({s / 60:.1f} min)", flush=True)
    arms = [f"{m}-{i}" for m in models for i in inits]
    total = time.perf_counter() - started
    machine = f"{os.cpu_count()} CPUs, load average {load_before:.1f} at the start and {os.getloadavg()[0]:.1f} at the end"
    first = json.loads((out / arms[0] / "summary.json").read_text())
    folds = ", ".join(first["summary"])
    lines = [clip_lines(r, f"clip-tiny pretrained ({name})") for name, r in reports.items()]
    text = (
        "## FLIP from a pretrained CLIP (toy-scale ablation)\n\n"
        f"Produced by `python benchmarks/flip_pretraining.py --seeds {args.seeds} --iterations {args.iterations} "
        f"--subjects {args.subjects} --clip-iterations {args.clip_iterations} --jobs {args.jobs}"
        f"{' --lfw-faces' if args.lfw_faces else ''}` ({total / 60:.0f} min in its last invocation, which reuses finished arms "
        f"and seeds; {machine}). clip-tiny pretrained on the "
        f"captioned corpus ({args.corpus_subjects} drawn subjects; docs/clip.md), then FLIP trained with "
        f"configs/demo/*_tiny.yaml at {args.iterations} iterations on fas-sim ({args.subjects} subjects per domain), "
        f"leave one domain out ({folds}); model selection and the eer@val threshold on source validation. Frame level; "
        f"per seed the folds are averaged, then mean ± std over seeds {args.seeds}.\n\n"
        + "\n".join(lines) + "\n\n" + table(out, arms) + "\n"
    )
    (out / "flip_pretraining.md").write_text(text)
    if args.results:
        write_section(Path(args.results), text, START, END)
    print(text)


if __name__ == "__main__":
    main()
