"""Start of every task's run: the thread count, a private copy of the config and its output folder."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TypeVar

Config = TypeVar("Config")


def start_run(config: Config, out: str | None) -> tuple[Config, Path]:
    """Apply ``trainer.num_threads`` (when > 0) and return a deep copy of ``config`` whose ``out`` is
    the run folder (``out`` if given, else the config's own), with that folder."""
    import torch

    if config.trainer.num_threads > 0:
        torch.set_num_threads(config.trainer.num_threads)
    config = copy.deepcopy(config)
    out_dir = Path(out or config.out)
    config.out = str(out_dir)
    return config, out_dir
