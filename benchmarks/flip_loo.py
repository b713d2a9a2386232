"""Sweep: FLIP-V, FLIP-IT and FLIP-MCL on fas-sim, leave one domain out, several seeds (clip-tiny, CPU).

    python benchmarks/flip_loo.py --seeds 0,1,2 --iterations 150 --results docs/results.md

Each model runs every fold with every seed through ``facetrust.tasks.fas.train_fas`` (honest protocol:
model selection and the eer@val threshold on source validation, the target domain seen only at test).
The Markdown table (per fold mean ± std over seeds, and the average over folds) replaces the section
between the flip-loo markers of ``--results``; nothing is written there that was not measured.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

START, END = "<!-- flip-loo:start -->", "<!-- flip-loo:end -->"
METRICS = (("hter", "HTER %"), ("auc", "AUC %"), ("tpr@fpr=1%", "TPR@FPR=1% %"), ("acer", "ACER %"))


def fmt(mean: float, std: float, n: int, bold: bool = False) -> str:
    text = f"{100 * mean:.1f} ± {100 * std:.1f}" if n > 1 else f"{100 * mean:.1f}"
    return f"**{text}**" if bold else text


def fold_table(results: dict[str, dict], level: str) -> str:
    header = "| model | fold | " + " | ".join(title for _, title in METRICS) + " |"
    rows = [header, "|" + "---|" * (len(METRICS) + 2)]
    for model, result in results.items():
        seeds_done = [len(agg["levels"][level][METRICS[0][0]]["values"]) for agg in result["summary"].values()]
        if len(set(seeds_done)) > 1:  # folds with different seed counts cannot be averaged per seed
            for fold, agg in result["summary"].items():
                metrics = agg["levels"][level]
                cells = [fmt(metrics[k]["mean"], metrics[k]["std"], agg["runs"]) for k, _ in METRICS]
                rows.append(f"| {model} | {fold} ({agg['runs']} seeds) | " + " | ".join(cells) + " |")
            continue
        per_seed_avg: dict[str, list[float]] = {key: [] for key, _ in METRICS}
        for fold, agg in result["summary"].items():
            metrics = agg["levels"][level]
            cells = [fmt(metrics[k]["mean"], metrics[k]["std"], agg["runs"]) for k, _ in METRICS]
            rows.append(f"| {model} | {fold} ({agg['runs']} seeds) | " + " | ".join(cells) + " |")
        for key, _ in METRICS:  # average over folds within each seed, then mean ± std over seeds
            per_fold = np.array([agg["levels"][level][key]["values"] for agg in result["summary"].values()])
            per_seed_avg[key] = per_fold.mean(axis=0).tolist()
        cells = []
        for key, _ in METRICS:
            values = np.array(per_seed_avg[key])
            std = values.std(ddof=1) if values.size > 1 else 0.0
            cells.append(fmt(values.mean(), std, values.size, bold=True))
        rows.append(f"| {model} | **average of {len(result['summary'])} folds** | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def collect(folder: Path) -> dict:
    """Merge every finished run (``<seed folder>/<fold>/seed<N>/result.json``) into mean ± std per fold."""
    from facetrust.evaluate import aggregate_seeds

    runs: dict[str, list[dict]] = {}
    for file in sorted(folder.glob("seed*/*/seed*/result.json")):
        record = json.loads(file.read_text())
        runs.setdefault(record["protocol"], []).append(record)
    if not runs:
        raise SystemExit(f"no finished runs under {folder}")
    return {"runs": runs, "summary": {fold: aggregate_seeds(records) for fold, records in sorted(runs.items())}}


def write_section(results_md: Path, text: str, start: str = START, end: str = END) -> None:
    """Put ``text`` between the ``start``/``end`` markers of ``results_md`` (appended when absent)."""
    old = results_md.read_text() if results_md.is_file() else "# Results\n"
    block = f"{start}\n{text.rstrip()}\n{end}"
    if start in old and end in old:
        head, rest = old.split(start, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    results_md.parent.mkdir(parents=True, exist_ok=True)
    results_md.write_text(new)


def main() -> None:
    import torch

    from facetrust.config import load_config
    from facetrust.tasks.fas import train_fas
    from facetrust.tasks.fas_config import FasExperiment

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/demo/flip_it_tiny.yaml")
    parser.add_argument("--models", default="flip_v,flip_it,flip_mcl")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--out", default="runs/bench/flip_loo")
    parser.add_argument("--results", default="docs/results.md")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--report-only", action="store_true",
                        help="do not train: tabulate <out>/<model>/summary.json of earlier runs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    results, seconds = {}, {}
    out = Path(args.out)
    models = args.models.split(",")
    # Seeds outermost: if the sweep is cut short, every model has its complete first seed(s).
    for seed in seeds:
        for model in models:
            if args.report_only:
                break
            overrides = [f"model.name={model}", f"train.iterations={args.iterations}", f"seeds=[{seed}]",
                         "trainer.progress_bar=false", f"data.fas_sim.dir={out / 'fas-sim'}", *args.overrides]
            train_fas(load_config(args.config, FasExperiment, overrides), str(out / model / f"seed{seed}"))
            print(f"{model} seed {seed} done", flush=True)
    for model in models:
        results[model] = collect(out / model)
        seconds[model] = sum(r["train_seconds"] for runs in results[model]["runs"].values() for r in runs)
    config = load_config(args.config, FasExperiment, [f"train.iterations={args.iterations}", *args.overrides])
    t = config.train
    text = (
        "## FLIP teachers on fas-sim, leave one domain out (clip-tiny, CPU)\n\n"
        f"Produced by `python benchmarks/flip_loo.py --seeds {args.seeds} --iterations {args.iterations}` "
        f"({' '.join('--set ' + o for o in args.overrides)}). clip-tiny (random init, 64 px, patch 8), "
        f"{t.iterations} iterations of {t.per_group} images per (source domain, class), {t.optimizer} lr {t.lr:g} "
        f"(warmup {t.warmup_iterations}, {t.schedule}), weight decay {t.weight_decay:g}; model selection by "
        f"{config.eval.select} and threshold {config.eval.threshold} on SOURCE validation only; the target "
        "domain is never seen before testing. Frame level, mean ± std over seeds "
        f"{args.seeds}; the average row averages the folds within each seed first. Training time summed "
        "over all runs on a shared, heavily loaded 2-core CPU: "
        + ", ".join(f"{m} {s / 60:.0f} min" for m, s in seconds.items()) + ".\n\n"
        + fold_table(results, "frame") + "\n\nVideo level (mean frame score per video):\n\n"
        + fold_table(results, "video") + "\n"
    )
    (out / "flip_loo.md").write_text(text)
    (out / "flip_loo.json").write_text(json.dumps({m: r["summary"] for m, r in results.items()}, indent=2, default=float))
    write_section(Path(args.results), text)
    print(text)


if __name__ == "__main__":
    main()
