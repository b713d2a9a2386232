"""Gradient-weighted attention relevance (Chefer, Gur & Wolf, "Generic Attention-model Explainability
for Interpreting Bi-Modal and Encoder-Decoder Transformers", ICCV 2021), for CLIP/FLIP and any ViT.

Relevance starts as the identity, ``R = I``, and every self-attention block updates it with its
attention weighted by the target's gradient, positive part, averaged over heads:
``Abar = E_h[(dL/dA * A)^+]``, ``R = R + Abar R``. The class token's row of ``R`` over the patches is
the map. The target is a class logit (FLIP's [attack, bona fide] logits are scaled cosines with the
class text embeddings) or, with ``prompt=...`` in ``explain``, the cosine similarity of the image
embedding and any text prompt's embedding, so "a printout shown to be a spoof face" gets its own map.
``start_layer`` keeps only blocks from that index on (Chefer's CLIP notebook uses the last block only,
``start_layer=-1``; the default 0 is the paper's rule over all blocks).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from facetrust.explain.attention import AttentionRecorder
from facetrust.explain.maps import patch_scores_to_heatmap
from facetrust.explain.rollout import source_row
from facetrust.features import find_vit, token_layout
from facetrust.registry import EXPLAINERS


def relevance_matrix(attentions: list[torch.Tensor], gradients: list[torch.Tensor], start_layer: int = 0) -> torch.Tensor:
    """[(B, heads, N, N)] attentions and their gradients -> (B, N, N) relevance."""
    blocks = list(zip(attentions, gradients, strict=True))
    blocks = blocks[start_layer:] if start_layer >= 0 else blocks[len(blocks) + start_layer:]
    batch, _, tokens, _ = attentions[0].shape
    relevance = torch.eye(tokens, dtype=attentions[0].dtype, device=attentions[0].device).expand(batch, -1, -1)
    for attention, gradient in blocks:
        weighted = (gradient * attention).clamp(min=0).mean(dim=1)  # (B, N, N)
        relevance = relevance + weighted @ relevance
    return relevance


@EXPLAINERS.register("clip-relevance")
def explain_clip_relevance(model: nn.Module, x: torch.Tensor, target: Callable, start_layer: int = 0,
                           **_: object) -> np.ndarray:
    """Relevance heatmap (H, W) in [0, 1] of ``target(model(x)[0])`` for a model with a ViT image tower."""
    vit = find_vit(model)
    if vit is None:
        raise TypeError(f"clip-relevance needs a vision transformer; {type(model).__name__} has none")
    layout = token_layout(vit, tuple(x.shape[-2:]))
    x = x.detach().clone().requires_grad_(True)  # gradients flow even when every parameter is frozen
    with torch.enable_grad(), AttentionRecorder(vit, track_gradients=True) as recorder:
        output = model(x)
        score = target(output[0])
        gradients = recorder.gradients(score)
    matrix = relevance_matrix(recorder.attentions, gradients, start_layer)
    scores = source_row(matrix, layout.n_prefix)
    return patch_scores_to_heatmap(scores[0], (layout.grid_h, layout.grid_w), tuple(x.shape[-2:]))
