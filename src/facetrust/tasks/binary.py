"""The binary trust tasks, ``fas`` (live vs attack) and ``deepfake`` (real vs fake): one engine.

Both run through ``facetrust.tasks.fas`` (training: FLIP teachers or any registered backbone with
cross-entropy) and ``facetrust.tasks.distill`` (students, KD losses); they differ only in names and
defaults (``facetrust.tasks.names``): class names and decision words, report titles, the FLIP-IT
prompts, and the embedded benchmark generated when a config names no manifest (fas-sim or
deepfake-sim). This module is their entry in ``facetrust.tasks.TASKS``: the commands call
``train_command`` / ``distill_command`` with the YAML path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def train_command(config_path: str, overrides: list[str], out: str | None) -> int:
    """``facetrust train`` for a binary task: every fold and seed, then the summary table."""
    from facetrust.config import load_config
    from facetrust.tasks.fas import is_global_zero, summary_table, train_fas
    from facetrust.tasks.fas_config import FLIP_MODELS, FasExperiment
    from facetrust.tasks.names import task_spec

    config = load_config(config_path, FasExperiment, overrides)
    result = train_fas(config, out)
    if not is_global_zero():  # DDP: the other ranks stay silent
        return 0
    m = config.model
    model = f"{m.name} ({m.clip})" if m.name in FLIP_MODELS else f"{m.name} ({m.image_size} px)"
    print(f"\n{task_spec(config.task).title}: {model}, threshold {config.eval.threshold}, seeds {config.seeds}; "
          f"frame level on the held-out test data:")
    print(summary_table(result["summary"], "frame", config.task))
    print(f"\nresults in {result['out']} (summary.md, summary.json, <fold>/seed<N>/checkpoint)")
    return 0


def distill_command(config_path: str, overrides: list[str], out: str | None) -> int:
    """``facetrust distill`` for a binary task."""
    from facetrust.config import load_config
    from facetrust.tasks.distill import distill
    from facetrust.tasks.distill_config import DistillExperiment
    from facetrust.tasks.fas import is_global_zero

    config = load_config(config_path, DistillExperiment, overrides)
    result = distill(config, out=out)
    if not is_global_zero():
        return 0
    print((Path(result["out"]) / "summary.md").read_text())
    print(f"results, checkpoints and summary: {result['out']}")
    return 0


def single_run(result: dict[str, Any]) -> dict[str, Any]:
    """The record of a sweep that ran one fold with one seed (demo and benchmark helpers)."""
    (runs,) = result["runs"].values()
    return runs[0]


def evaluate_by_manipulation(checkpoint, manifest, calibrate_on: tuple[str, ...] | None,
                             families: tuple[str, ...], n_bootstrap: int = 0, seed: int = 0) -> dict[str, Any]:
    """A deepfake checkpoint on each manipulation family's test rows (real + that family), with the
    eer@val threshold of the val split restricted to ``calibrate_on`` (the families training saw;
    None = all). Returns ``{"params", family: {"frame": metrics, "video": metrics}}``; a family the
    model never saw in training is a cross-manipulation result."""
    import facetrust
    from facetrust.data import ImageDataset, read_manifest
    from facetrust.data.transforms import eval_transform
    from facetrust.evaluate import ScoreSet, evaluate
    from facetrust.tasks.fas import predict_scores

    model = facetrust.load_model(checkpoint)
    df = read_manifest(manifest)
    column = "manipulation" if "manipulation" in df.columns else "attack_type"
    transform = eval_transform(model.preprocess)

    def scored(split: str, kinds: tuple[str, ...] | None, name: str) -> ScoreSet:
        rows = df[(df["split"] == split) & ((df["label"] == 1) | (kinds is None) | df[column].isin(kinds or ()))]
        rows = rows.reset_index(drop=True)
        return ScoreSet.from_table(rows, predict_scores(model, ImageDataset(rows, transform)), name)

    val = scored("val", calibrate_on, "val")
    out: dict[str, Any] = {"params": sum(p.numel() for p in model.parameters())}
    for family in families:
        result = evaluate(scored("test", (family,), family), "eer@val", val=val, n_bootstrap=n_bootstrap, seed=seed)
        out[family] = {level: r.metrics for level, r in result.levels.items()}
    return out
