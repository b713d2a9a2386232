"""FLIP-MCL's extra losses (Srivatsan et al., ICCV 2023), as pure functions of tensors.

- ``nt_xent``: SimCLR's normalised temperature-scaled cross-entropy (Chen et al., ICML 2020) between two
  views of a batch; FLIP uses tau = 0.1 on the SimCLR projector's outputs.
- ``view_consistency_mse``: MSE between cos(view 1, text of prompt half A) and cos(view 2, text of prompt
  half B), per sample.
- ``split_prompts``: two disjoint halves that together cover all prompts. FLIP draws its first half
  with replacement, so its halves can repeat a prompt and be uneven; ours never do.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

import torch
import torch.nn.functional as F

from facetrust.registry import LOSSES

T = TypeVar("T")


@LOSSES.register("nt_xent")
def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR NT-Xent: (B, K), (B, K) projections of two views -> scalar loss.

    Each of the 2B embeddings is classified against the other 2B - 1 by cosine / temperature; its
    positive is the other view of the same image. Averaged over all 2B anchors.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"nt_xent needs two (B, K) tensors of the same shape, got {tuple(z1.shape)}, {tuple(z2.shape)}")
    batch = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, K)
    similarity = z @ z.t() / temperature
    self_mask = torch.eye(2 * batch, dtype=torch.bool, device=z.device)
    similarity = similarity.masked_fill(self_mask, float("-inf"))
    positives = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)]).to(z.device)
    return F.cross_entropy(similarity, positives)


@LOSSES.register("view_consistency_mse")
def view_consistency_mse(
    image_view1: torch.Tensor, image_view2: torch.Tensor, text_half_a: torch.Tensor, text_half_b: torch.Tensor
) -> torch.Tensor:
    """FLIP-MCL's cross-modal consistency: MSE(cos(v1_i, tA_i), cos(v2_i, tB_i)) over the batch.

    ``image_view*``: (B, D) image embeddings of the two views; ``text_half_*``: (B, D) text embeddings of
    each sample's class computed from the two disjoint prompt halves (any scale: all are normalised).
    """
    cos_a = F.cosine_similarity(F.normalize(image_view1, dim=-1), F.normalize(text_half_a, dim=-1), dim=-1)
    cos_b = F.cosine_similarity(F.normalize(image_view2, dim=-1), F.normalize(text_half_b, dim=-1), dim=-1)
    return F.mse_loss(cos_a, cos_b)


def split_prompts(prompts: Sequence[T], seed: int) -> tuple[list[T], list[T]]:
    """Shuffle ``prompts`` with ``seed`` and cut them into two disjoint halves that cover them all.

    With an odd count the first half gets the extra prompt. Needs at least two prompts.
    """
    if len(prompts) < 2:
        raise ValueError(f"splitting prompts into two halves needs at least 2 prompts, got {len(prompts)}")
    order = list(range(len(prompts)))
    random.Random(seed).shuffle(order)
    cut = (len(order) + 1) // 2
    return [prompts[i] for i in order[:cut]], [prompts[i] for i in order[cut:]]
