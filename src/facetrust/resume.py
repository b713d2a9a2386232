"""Resuming a sweep (``facetrust train/distill --resume``): a fold/seed whose ``result.json`` and
checkpoint are complete is not run again; its record is read back, so the summary is the one an
uninterrupted run writes (runs are deterministic on the CPU for a given seed).

Everything is written atomically (``facetrust.atomic``), so a run killed at any point leaves each
fold/seed either finished (both files complete and consistent) or absent. ``--resume`` refuses an
output folder whose recorded config differs from the one asked for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from facetrust.errors import CheckpointError, ConfigError

ENV = "FACETRUST_RESUME"  # set by --resume; inherited by DDP ranks that Lightning starts


def request_resume(enabled: bool = True) -> None:
    if enabled:
        os.environ[ENV] = "1"
    else:
        os.environ.pop(ENV, None)


def resume_requested() -> bool:
    return os.environ.get(ENV) == "1"


def check_same_config(previous: str | None, current: str, folder: Path) -> None:
    """``--resume`` continues only the same experiment (the resolved config.yaml, text for text)."""
    if previous is not None and previous != current:
        raise ConfigError(f"--resume: {folder / 'config.yaml'} records a different config than the one given; "
                          "resume with the same YAML and --set values, or choose another --out")


def finished_record(run_dir: Path) -> dict[str, Any] | None:
    """The record of a finished fold/seed (result.json + a complete, hash-checked checkpoint), else None."""
    from facetrust.checkpoint import WEIGHTS, read_config, verify_file

    try:
        record = json.loads((run_dir / "result.json").read_text())
        checkpoint = Path(record["checkpoint"])
        checkpoint = checkpoint if checkpoint.is_dir() else run_dir / "checkpoint"
        config = read_config(checkpoint)
        verify_file(checkpoint, WEIGHTS, config["files"][WEIGHTS])
    except (OSError, ValueError, KeyError, TypeError, CheckpointError):
        return None
    return record if isinstance(record, dict) else None
