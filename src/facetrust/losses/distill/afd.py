"""Attention-based feature distillation (AFD): Ji, Heo & Park, "Show, Attend and Distill: Knowledge
Distillation via Attention-based Feature Matching", AAAI 2021.

Every teacher layer t attends over all student layers s, so the student learns *which* of its layers
should imitate which teacher layer instead of a hand-made pairing:

- query_t = BN(W_t · channel-mean(F_t))                        (teacher, (B, T, d))
- key_s   = ReLU(BN(W_s · channel-mean(F_s))), then a per-teacher-layer bilinear map BN(W_b · key_s)
- alpha[t, s] = softmax_s((<bilinear_key[s, t], query_t> + p_t · p_s) / sqrt(d)), with learned
  positional embeddings p_t, p_s shared across samples
- spatial map of a layer = channel-mean of F^2, the student's average-pooled to the teacher's grid,
  flattened and L2-normalised
- loss = sum_t mean_b sum_s alpha[t, s] · mean_hw (map_s - map_t)^2

Inputs are (B, C, H, W) maps; reshape ViT tokens first with ``facetrust.features.tokens_to_grid``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _linear_bn(in_features: int, out_features: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, out_features), nn.BatchNorm1d(out_features))


def spatial_map(feature: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
    """(B, C, H, W) -> (B, H'W') L2-normalised channel-mean of squared activations."""
    energy = feature.pow(2).mean(dim=1, keepdim=True)
    if size is not None and tuple(energy.shape[-2:]) != tuple(size):
        energy = F.adaptive_avg_pool2d(energy, size)
    return F.normalize(energy.flatten(1), dim=1)


class AFD(nn.Module):
    """AFD loss over ``len(teacher_channels)`` teacher and ``len(student_channels)`` student layers."""

    def __init__(self, teacher_channels: list[int], student_channels: list[int], qk_dim: int = 128) -> None:
        super().__init__()
        if not teacher_channels or not student_channels:
            raise ValueError("AFD needs at least one teacher layer and one student layer")
        self.qk_dim = qk_dim
        self.n_teacher = len(teacher_channels)
        self.query = nn.ModuleList(_linear_bn(c, qk_dim) for c in teacher_channels)
        self.key = nn.ModuleList(nn.Sequential(_linear_bn(c, qk_dim), nn.ReLU()) for c in student_channels)
        self.bilinear = _linear_bn(qk_dim, qk_dim * self.n_teacher)
        self.teacher_position = nn.Parameter(torch.empty(len(teacher_channels), qk_dim))
        self.student_position = nn.Parameter(torch.empty(len(student_channels), qk_dim))
        nn.init.xavier_normal_(self.teacher_position)
        nn.init.xavier_normal_(self.student_position)

    def attention(self, student_maps: list[torch.Tensor], teacher_maps: list[torch.Tensor]) -> torch.Tensor:
        """(B, T, S) weights of each student layer for each teacher layer (rows sum to 1)."""
        batch = student_maps[0].shape[0]
        query = torch.stack([q(f.mean(dim=(2, 3))) for q, f in zip(self.query, teacher_maps, strict=True)], 1)  # (B,T,d)
        key = torch.stack([k(f.mean(dim=(2, 3))) for k, f in zip(self.key, student_maps, strict=True)], 1)  # (B,S,d)
        n_student = key.shape[1]
        bilinear_key = self.bilinear(key.reshape(batch * n_student, -1))
        bilinear_key = bilinear_key.view(batch, n_student, self.n_teacher, self.qk_dim)  # (B,S,T,d)
        logits = torch.einsum("bstd,btd->bts", bilinear_key, query)
        logits = logits + self.teacher_position @ self.student_position.t()
        return torch.softmax(logits / math.sqrt(self.qk_dim), dim=2)

    def forward(self, student_maps: list[torch.Tensor], teacher_maps: list[torch.Tensor]) -> torch.Tensor:
        if len(teacher_maps) != self.n_teacher or len(student_maps) != len(self.key):
            raise ValueError(
                f"AFD was built for {self.n_teacher} teacher and {len(self.key)} student layers, got "
                f"{len(teacher_maps)} and {len(student_maps)}"
            )
        weights = self.attention(student_maps, teacher_maps)  # (B, T, S)
        loss = student_maps[0].new_zeros(())
        for t, teacher_feature in enumerate(teacher_maps):
            grid = tuple(teacher_feature.shape[-2:])
            target = spatial_map(teacher_feature)  # (B, HW)
            student = torch.stack([spatial_map(f, grid) for f in student_maps], 1)  # (B, S, HW)
            squared_error = (student - target.unsqueeze(1)).pow(2).mean(dim=2)  # (B, S)
            loss = loss + (squared_error * weights[:, t]).sum(dim=1).mean()
        return loss
