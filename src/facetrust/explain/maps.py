"""Small helpers shared by the explainers: normalise a map to [0, 1], patch scores -> image heatmap."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def normalise(heatmap: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] (float32); a constant map becomes all zeros."""
    heatmap = np.asarray(heatmap, dtype=np.float32)
    heatmap = np.nan_to_num(heatmap, nan=0.0, posinf=0.0, neginf=0.0)
    span = float(heatmap.max() - heatmap.min()) if heatmap.size else 0.0
    if span <= 1e-12:
        return np.zeros_like(heatmap)
    return (heatmap - heatmap.min()) / span


def patch_scores_to_heatmap(scores: torch.Tensor, grid_hw: tuple[int, int], image_hw: tuple[int, int]) -> np.ndarray:
    """(grid_h * grid_w,) patch scores -> (H, W) heatmap in [0, 1], bilinearly upsampled."""
    grid = scores.detach().float().reshape(1, 1, *grid_hw)
    upsampled = F.interpolate(grid, size=tuple(image_hw), mode="bilinear", align_corners=False)
    return normalise(upsampled[0, 0].cpu().numpy())
