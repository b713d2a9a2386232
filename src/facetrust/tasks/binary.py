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
    from facetrust.tasks.fas import is_global_zero
    from facetrust.tasks.distill_config import DistillExperiment

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
