"""Margin logits for face-recognition training (used only in training, never exported).

Both take a (B, C) matrix of cosines between normalised embeddings and normalised class centres
and (B,) integer labels, and return (B, C) logits for cross-entropy:

* ArcFace (Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019):
  s * cos(theta + m) at the label column, s * cos(theta) elsewhere. Where theta + m > pi the
  function cos(theta + m) stops decreasing in theta, so the usual fallback cos(theta) - m * sin(m)
  is used there (or, with ``easy_margin``, the margin is applied only where cos(theta) > 0).
* CosFace (Wang et al., "CosFace: Large Margin Cosine Loss", CVPR 2018): s * (cos(theta) - m) at the
  label column.

Plain softmax (a linear classifier on the raw embedding) needs no function here: it is the
``softmax`` head of ``facetrust.tasks.face``.
"""

from __future__ import annotations

import math

import torch


def _check(cosine: torch.Tensor, labels: torch.Tensor) -> None:
    if cosine.ndim != 2:
        raise ValueError(f"cosine must be (B, C), got shape {tuple(cosine.shape)}")
    if labels.shape != (cosine.shape[0],):
        raise ValueError(f"labels must be (B,) = ({cosine.shape[0]},), got {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= cosine.shape[1]):
        raise ValueError(f"labels must be in [0, {cosine.shape[1]}), got {int(labels.min())}..{int(labels.max())}")


def _replace_target(cosine: torch.Tensor, labels: torch.Tensor, target_value: torch.Tensor) -> torch.Tensor:
    """``cosine`` with column ``labels[i]`` of row i replaced by ``target_value[i]`` (differentiably)."""
    one_hot = torch.zeros_like(cosine).scatter_(1, labels.view(-1, 1), 1.0)
    target = cosine.gather(1, labels.view(-1, 1))
    return cosine + one_hot * (target_value.view(-1, 1) - target)


def arcface_logits(
    cosine: torch.Tensor, labels: torch.Tensor, s: float = 64.0, m: float = 0.5, easy_margin: bool = False
) -> torch.Tensor:
    """ArcFace logits: s * cos(theta + m) at the label, s * cos(theta) elsewhere; (B, C) -> (B, C)."""
    _check(cosine, labels)
    cosine = cosine.clamp(-1.0, 1.0)
    target = cosine.gather(1, labels.view(-1, 1)).squeeze(1)
    # sin(theta) >= 0 for theta in [0, pi]; the clamp keeps the gradient finite at |cos| = 1.
    sine = (1.0 - target * target).clamp_min(1e-12).sqrt()
    with_margin = target * math.cos(m) - sine * math.sin(m)  # cos(theta + m)
    if easy_margin:
        target_value = torch.where(target > 0, with_margin, target)
    else:
        # theta + m <= pi  <=>  cos(theta) >= cos(pi - m)
        target_value = torch.where(target > math.cos(math.pi - m), with_margin, target - m * math.sin(m))
    return s * _replace_target(cosine, labels, target_value)


def cosface_logits(cosine: torch.Tensor, labels: torch.Tensor, s: float = 64.0, m: float = 0.35) -> torch.Tensor:
    """CosFace logits: s * (cos(theta) - m) at the label, s * cos(theta) elsewhere; (B, C) -> (B, C)."""
    _check(cosine, labels)
    cosine = cosine.clamp(-1.0, 1.0)
    target = cosine.gather(1, labels.view(-1, 1)).squeeze(1)
    return s * _replace_target(cosine, labels, target - m)


MARGINS = {"arcface": arcface_logits, "cosface": cosface_logits}
