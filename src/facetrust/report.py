"""Evaluation reports: ``write_report(result, out_dir)`` writes JSON, Markdown and PNG figures.

Every report states how its threshold was chosen; a ``test-eer`` result carries a warning at the top
of the Markdown and in the JSON, because its threshold was fitted to the test set itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from facetrust.evaluate import TEST_EER_WARNING, EvaluationResult

FIGURES = {"roc": "roc.png", "det": "det.png", "histograms": "scores.png"}
RATE_HELP = {
    "auc": "area under the ROC curve (threshold-free)",
    "eer": "equal error rate (threshold-free)",
    "hter": "(FAR + FRR) / 2 at the threshold",
    "far": "attacks accepted, all species pooled",
    "frr": "bona fide rejected",
    "apcer": "worst species' APCER (ISO/IEC 30107-3)",
    "bpcer": "bona fide rejected (ISO/IEC 30107-3)",
    "acer": "(APCER + BPCER) / 2",
    "tpr@fpr=1%": "bona fide accepted at the best threshold with FAR <= 1% (threshold-free)",
    "bpcer@apcer=1%": "lowest BPCER with every species' APCER <= 1% (threshold-free)",
    "bpcer@apcer=5%": "lowest BPCER with every species' APCER <= 5% (threshold-free)",
    "bpcer@apcer=10%": "lowest BPCER with every species' APCER <= 10% (threshold-free)",
    "accuracy": "correct decisions at the threshold",
    "f1": "F1 of the accepted class (bona fide / real) at the threshold",
    "accuracy@0.5": "correct decisions at the fixed threshold 0.5 (not calibrated)",
    "f1@0.5": "F1 of the accepted class at the fixed threshold 0.5 (not calibrated)",
    "ap": "average precision of the accepted class (threshold-free)",
}


def task_title(task: str | None) -> str:
    """The task's title for report headings ("face anti-spoofing", "deepfake detection", or the name)."""
    from facetrust.tasks.names import BINARY_TASKS

    spec = BINARY_TASKS.get(task or "fas")
    return spec.title if spec else str(task)


def _class_words(task: str | None) -> tuple[str, str]:
    from facetrust.tasks.names import BINARY_TASKS

    spec = BINARY_TASKS.get(task or "fas", BINARY_TASKS["fas"])
    return spec.positive, spec.negative


def _percent(value: float) -> str:
    return "n/a" if value != value else f"{100 * value:.2f}"


def _interval(intervals: dict[str, Any], name: str) -> str:
    if name not in intervals:
        return ""
    low, high = intervals[name]
    return f"[{_percent(low)}, {_percent(high)}]"


def result_markdown(result: EvaluationResult, figures: dict[str, str] | None = None) -> str:
    """The Markdown report: threshold provenance, frame and video metrics side by side with intervals."""
    levels = list(result.levels)
    task = result.extra.get("task")
    title = f"Evaluation ({task_title(task)})" if task else "Evaluation"
    lines = [f"# {title}{': ' + result.domain if result.domain else ''}", ""]
    if not result.honest:
        lines += [f"> **WARNING — {TEST_EER_WARNING}.** Do not compare these numbers with "
                  "results whose threshold came from validation data.", ""]
    lines += [f"Threshold strategy: `{result.strategy}`" + ("" if result.honest else " (FLIP compatibility mode)"), ""]
    if result.extra.get("validation_domain"):
        lines += [f"Threshold chosen on validation data of domain(s) `{result.extra['validation_domain']}`; "
                  f"tested on `{result.domain}`.", ""]
    if result.extra.get("checkpoint"):
        lines += [f"Checkpoint `{result.extra['checkpoint']}`, manifest `{result.extra.get('manifest', '')}`"
                  + (f", split `{result.extra['split']}` ({result.extra['rows']} images)" if "rows" in result.extra else "")
                  + ".", ""]
    positive, negative = _class_words(task)
    lines += [f"| level | threshold | chosen on | samples ({positive} / {negative}) | videos |", "|---|---|---|---|---|"]
    for level in levels:
        res = result.levels[level]
        info = res.threshold_info
        lines.append(f"| {level} | {res.threshold:.6g} | {info.get('chosen_on', '')} | "
                     f"{res.counts['bona_fide']} / {res.counts['attack']} | {res.counts['videos']} |")
    boot = result.bootstrap
    ci = f"{boot['confidence']:.0%} CI" if boot.get("resamples") else ""
    lines += ["", "All values in %." + (f" Intervals: {boot['resamples']} bootstrap resamples of videos "
                                         f"(stratified by class, seed {boot['seed']}), threshold held fixed."
                                         if ci else ""), ""]
    header = "| metric | " + " | ".join(f"{lv} | {ci}" if ci else lv for lv in levels) + " | meaning |"
    lines += [header, "|---" * (1 + len(levels) * (2 if ci else 1) + 1) + "|"]
    names = [n for n in result.levels[levels[0]].metrics if n != "eer_threshold"]
    for name in names:
        cells = []
        for level in levels:
            res = result.levels[level]
            cells.append(_percent(res.metrics.get(name, float("nan"))))
            if ci:
                cells.append(_interval(res.intervals, name))
        meaning = RATE_HELP.get(name, "this species' attacks accepted" if name.startswith("apcer[") else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {meaning} |")
    skipped = result.extra.get("skipped", [])
    if skipped:
        lines += ["", f"## Skipped files ({len(skipped)})", ""]
        lines += [f"- `{item['path']}`: {item['reason']}" for item in skipped[:50]]
        if len(skipped) > 50:
            lines.append(f"- ... {len(skipped) - 50} more in report.json")
    if figures:
        lines += ["", "## Figures", ""] + [f"![{name}]({file})" for name, file in figures.items()]
    return "\n".join(lines) + "\n"


def write_report(result: EvaluationResult, out_dir: str | os.PathLike, figures: bool = True) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and (unless ``figures=False``) ROC, DET and score-histogram
    PNGs into ``out_dir``; returns the paths by name."""
    from facetrust import atomic, plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if figures:
        paths["roc"] = plots.plot_roc(result, out / FIGURES["roc"])
        paths["det"] = plots.plot_det(result, out / FIGURES["det"])
        paths["histograms"] = plots.plot_histograms(result, out / FIGURES["histograms"])
    paths["json"] = out / "report.json"
    atomic.write_text(paths["json"], json.dumps(result.to_dict(), indent=2, allow_nan=True) + "\n")
    paths["markdown"] = out / "report.md"
    atomic.write_text(paths["markdown"], result_markdown(result, FIGURES if figures else None))
    return paths


def seeds_markdown(summary: dict[str, Any]) -> str:
    """Markdown table of ``aggregate_seeds`` output: mean ± std (%) per metric and level."""
    levels = list(summary["levels"])
    lines = []
    if not summary["honest"]:
        lines += [f"> **WARNING — {TEST_EER_WARNING}.**", ""]
    lines += [f"Threshold strategy `{summary['strategy']}`, {summary['runs']} seeds, mean ± std (ddof 1), in %.", "",
              "| metric | " + " | ".join(levels) + " |", "|---" * (1 + len(levels)) + "|"]
    for name in summary["levels"][levels[0]]:
        if name == "eer_threshold":
            continue
        cells = [f"{100 * summary['levels'][lv][name]['mean']:.2f} ± {100 * summary['levels'][lv][name]['std']:.2f}"
                 for lv in levels]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
