"""Seeding so that a run with the same seed gives the same numbers on CPU."""

from __future__ import annotations

import os
import random


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and PyTorch; with ``deterministic`` also ask PyTorch for deterministic kernels."""
    import numpy as np
    import torch

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def worker_seed(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: derive each worker's NumPy and random seeds from torch's."""
    import numpy as np
    import torch

    base = torch.initial_seed() % 2**32
    np.random.seed((base + worker_id) % 2**32)
    random.seed(base + worker_id)
