"""Logit distillation: the student matches the teacher's class scores.

``kd_kl``: Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network" (2015).
``kd_mse``: Ba & Caruana, "Do Deep Nets Really Need to be Deep?" (NeurIPS 2014), logit regression;
both are the two variants of the deepfake seed (KL and MSE); ``soft_hard_kd`` is its whole objective,
L = alpha * soft + (1 - alpha) * hard.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 4.0) -> torch.Tensor:
    """KL(softmax(t / T) || softmax(s / T)) summed over classes, averaged over the batch, times T^2.

    The T^2 factor keeps the gradient scale independent of T (Hinton et al., 2015, §2).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    log_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = (log_teacher.exp() * (log_teacher - log_student)).sum(dim=-1)  # (B,)
    return kl.mean() * temperature**2


def kd_mse(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Mean squared error between student and teacher logits (mean over all elements)."""
    return F.mse_loss(student_logits, teacher_logits)


def soft_hard_kd(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    alpha: float = 0.5,
    soft: str = "kl",
    temperature: float = 4.0,
) -> torch.Tensor:
    """The deepfake seed's objective: ``alpha * soft + (1 - alpha) * CE(student, labels)``.

    ``soft = "kl"``: ``kd_kl`` (T^2 * KL(softmax(t / T) || softmax(s / T)), batch mean);
    ``soft = "mse"``: ``kd_mse`` (MSE of the raw logits; ``temperature`` is not used).
    The teacher side carries no gradient.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    teacher_logits = teacher_logits.detach()
    if soft == "kl":
        soft_term = kd_kl(student_logits, teacher_logits, temperature)
    elif soft == "mse":
        soft_term = kd_mse(student_logits, teacher_logits)
    else:
        raise ValueError(f"soft must be 'kl' or 'mse', got {soft!r}")
    return alpha * soft_term + (1.0 - alpha) * F.cross_entropy(student_logits, labels)
