"""Relational knowledge distillation: Park et al., "Relational Knowledge Distillation", CVPR 2019.

The student matches the *structure* of the teacher's embedding space rather than the embeddings:
pairwise distances (``rkd_distance``) and angles formed by triplets (``rkd_angle``). Both are
invariant to a global scaling of either embedding set, so student and teacher sizes may differ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _normalised_distances(emb: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(B, B) Euclidean distances divided by their mean over distinct pairs (i != j)."""
    squared = (emb.unsqueeze(0) - emb.unsqueeze(1)).pow(2).sum(-1)
    off_diagonal = ~torch.eye(emb.shape[0], dtype=torch.bool, device=emb.device)
    distances = torch.where(off_diagonal, squared.clamp_min(eps).sqrt(), torch.zeros_like(squared))
    mean = distances[off_diagonal].mean().clamp_min(eps)
    return distances / mean


def rkd_distance(student_emb: torch.Tensor, teacher_emb: torch.Tensor) -> torch.Tensor:
    """Distance-wise RKD: smooth-L1 between normalised pairwise distances, mean over all (i, j).

    Needs at least 2 samples. The teacher side carries no gradient.
    """
    if student_emb.shape[0] < 2:
        raise ValueError("rkd_distance needs a batch of at least 2 samples")
    with torch.no_grad():
        teacher = _normalised_distances(teacher_emb)
    return F.smooth_l1_loss(_normalised_distances(student_emb), teacher)


def _triplet_cosines(emb: torch.Tensor) -> torch.Tensor:
    """(B, B, B) tensor: cos of the angle at j between (e_i - e_j) and (e_k - e_j)."""
    differences = F.normalize(emb.unsqueeze(0) - emb.unsqueeze(1), dim=-1)  # [j, i] = e_i - e_j
    return differences @ differences.transpose(1, 2)  # [j, i, k]


def rkd_angle(student_emb: torch.Tensor, teacher_emb: torch.Tensor) -> torch.Tensor:
    """Angle-wise RKD: smooth-L1 between triplet cosines, mean over all (i, j, k).

    Degenerate triplets (i == j or k == j) give 0 on both sides, as in the authors' code. Needs at
    least 3 samples. The teacher side carries no gradient.
    """
    if student_emb.shape[0] < 3:
        raise ValueError("rkd_angle needs a batch of at least 3 samples")
    with torch.no_grad():
        teacher = _triplet_cosines(teacher_emb)
    return F.smooth_l1_loss(_triplet_cosines(student_emb), teacher)
