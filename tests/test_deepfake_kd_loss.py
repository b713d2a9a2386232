"""``soft_hard_kd`` (the deepfake seed's L = alpha * soft + (1 - alpha) * hard) against a naive float64
implementation: explicit loops over rows and classes, values and gradients, both softs, several
alpha and T."""

from __future__ import annotations

import math

import pytest
import torch

from facetrust.losses.distill import soft_hard_kd


def _rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3


def _log_softmax(row: list[torch.Tensor]) -> list[torch.Tensor]:
    top = max(float(v.detach()) for v in row)
    log_total = torch.log(sum(torch.exp(v - top) for v in row)) + top
    return [v - log_total for v in row]


def naive(s: torch.Tensor, t: torch.Tensor, y: torch.Tensor, alpha: float, soft: str, temperature: float):
    batch, classes = s.shape
    if soft == "kl":
        total = 0
        for b in range(batch):
            log_p_s = _log_softmax([s[b, c] / temperature for c in range(classes)])
            log_p_t = _log_softmax([t[b, c] / temperature for c in range(classes)])
            total = total + sum(torch.exp(lt) * (lt - ls) for lt, ls in zip(log_p_t, log_p_s, strict=True))
        soft_term = total / batch * temperature**2
    else:
        soft_term = sum((s[b, c] - t[b, c]) ** 2 for b in range(batch) for c in range(classes)) / (batch * classes)
    hard = -sum(_log_softmax([s[b, c] for c in range(classes)])[int(y[b])] for b in range(batch)) / batch
    return alpha * soft_term + (1 - alpha) * hard


@pytest.mark.parametrize("soft", ["kl", "mse"])
@pytest.mark.parametrize("alpha,temperature", [(0.5, 4.0), (0.0, 2.0), (1.0, 1.0), (0.3, 7.5)])
def test_soft_hard_kd_matches_naive(soft: str, alpha: float, temperature: float) -> None:
    s = _rand(6, 2, seed=1).requires_grad_()
    t = _rand(6, 2, seed=2)
    y = torch.tensor([0, 1, 1, 0, 1, 0])
    s_ref = s.detach().clone().requires_grad_()
    value = soft_hard_kd(s, t, y, alpha=alpha, soft=soft, temperature=temperature)
    reference = naive(s_ref, t, y, alpha, soft, temperature)
    assert math.isclose(float(value), float(reference), rel_tol=1e-10, abs_tol=1e-12)
    value.backward()
    reference.backward()
    assert torch.allclose(s.grad, s_ref.grad, rtol=1e-9, atol=1e-12)


def test_soft_hard_kd_three_classes_and_no_teacher_gradient() -> None:
    s = _rand(5, 3, seed=3).requires_grad_()
    t = _rand(5, 3, seed=4).requires_grad_()
    y = torch.tensor([0, 2, 1, 1, 0])
    value = soft_hard_kd(s, t, y, alpha=0.7, soft="kl", temperature=3.0)
    assert math.isclose(float(value), float(naive(s.detach(), t.detach(), y, 0.7, "kl", 3.0)), rel_tol=1e-10)
    value.backward()
    assert t.grad is None  # the teacher is a target, not a parameter


def test_soft_hard_kd_rejects_bad_arguments() -> None:
    s, t, y = _rand(2, 2, seed=5), _rand(2, 2, seed=6), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="soft"):
        soft_hard_kd(s, t, y, soft="l1")
    with pytest.raises(ValueError, match="alpha"):
        soft_hard_kd(s, t, y, alpha=1.5)
    with pytest.raises(ValueError, match="temperature"):
        soft_hard_kd(s, t, y, temperature=0.0)
