"""The learning-rate schedule every task shares: linear warmup, then cosine decay or constant."""

from __future__ import annotations

import math


def warmup_cosine_factor(step: int, iterations: int, warmup: int = 0, schedule: str = "cosine") -> float:
    """LR multiplier at ``step``: ``(step + 1) / warmup`` during warmup, then cosine to 0 at ``iterations``
    (``schedule="cosine"``) or 1 (``"constant"``)."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "cosine":
        progress = (step - warmup) / max(1, iterations - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return 1.0


def step_scheduler(optimizer, iterations: int, warmup: int = 0, schedule: str = "cosine") -> dict:
    """Lightning's ``lr_scheduler`` entry for :func:`warmup_cosine_factor`, stepped every iteration."""
    import torch

    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine_factor(step, iterations, warmup, schedule))
    return {"scheduler": scheduler, "interval": "step"}
