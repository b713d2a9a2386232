"""Attention rollout (Abnar & Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020).

Each block's attention is fused over heads and mixed with the identity to account for the residual
connection, ``A' = 0.5 A + 0.5 I`` (rows still sum to one); the rollout is the product
``A'_L ... A'_1``. The row of the class token (or, for a ViT without prefix tokens, the mean row) over
the patch tokens is the map. Rollout does not depend on the class: ``target`` is ignored.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from facetrust.explain.attention import AttentionRecorder
from facetrust.explain.maps import patch_scores_to_heatmap
from facetrust.features import find_vit, token_layout
from facetrust.registry import EXPLAINERS

HEAD_FUSIONS = ("mean", "max", "min")


def rollout_matrix(attentions: list[torch.Tensor], head_fusion: str = "mean") -> torch.Tensor:
    """[(B, heads, N, N)] per block -> (B, N, N) rolled-out attention."""
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}")
    result = None
    for attention in attentions:
        fused = getattr(attention, head_fusion)(dim=1)
        fused = fused.values if head_fusion != "mean" else fused  # (B, N, N)
        identity = torch.eye(fused.shape[-1], dtype=fused.dtype, device=fused.device)
        mixed = 0.5 * fused + 0.5 * identity
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        result = mixed if result is None else mixed @ result
    return result


def source_row(matrix: torch.Tensor, n_prefix: int) -> torch.Tensor:
    """(B, N, N) token-to-token scores -> (B, n_patches): the class token's row, or the mean row."""
    rows = matrix[:, 0] if n_prefix > 0 else matrix.mean(dim=1)
    return rows[:, n_prefix:]


@EXPLAINERS.register("rollout")
def explain_rollout(model: nn.Module, x: torch.Tensor, target: object = None, head_fusion: str = "mean",
                    **_: object) -> np.ndarray:
    """Attention rollout heatmap (H, W) in [0, 1] for a timm or open_clip vision transformer."""
    vit = find_vit(model)
    if vit is None:
        raise TypeError(f"rollout needs a vision transformer; {type(model).__name__} has none (use a CAM method)")
    layout = token_layout(vit, tuple(x.shape[-2:]))
    with torch.no_grad(), AttentionRecorder(vit) as recorder:
        vit(x)
    scores = source_row(rollout_matrix(recorder.attentions, head_fusion), layout.n_prefix)
    return patch_scores_to_heatmap(scores[0], (layout.grid_h, layout.grid_w), tuple(x.shape[-2:]))
