"""ArcFace / CosFace logits against a naive float64 loop over angles, gradients included."""

import math

import pytest
import torch

from facetrust.losses.margin import arcface_logits, cosface_logits


def naive_arcface(cosine, labels, s, m, easy_margin=False):
    rows = []
    for i in range(cosine.shape[0]):
        row = []
        for j in range(cosine.shape[1]):
            c = cosine[i, j].clamp(-1, 1)
            if j != int(labels[i]):
                row.append(s * c)
                continue
            theta = torch.acos(c)
            if easy_margin:
                row.append(s * torch.cos(theta + m) if c > 0 else s * c)
            elif theta + m <= math.pi:
                row.append(s * torch.cos(theta + m))
            else:
                row.append(s * (c - m * math.sin(m)))
        rows.append(torch.stack(row))
    return torch.stack(rows)


def naive_cosface(cosine, labels, s, m):
    out = []
    for i in range(cosine.shape[0]):
        out.append(torch.stack([s * (cosine[i, j] - (m if j == int(labels[i]) else 0.0)) for j in range(cosine.shape[1])]))
    return torch.stack(out)


def _inputs(seed=0, b=6, c=5):
    g = torch.Generator().manual_seed(seed)
    cosine = (torch.rand(b, c, generator=g, dtype=torch.float64) * 1.9 - 0.95)
    labels = torch.randint(0, c, (b,), generator=g)
    # force both branches: one label cosine near -1 (theta + m > pi), one near +1
    cosine[0, labels[0]] = -0.97
    cosine[1, labels[1]] = 0.93
    return cosine, labels


@pytest.mark.parametrize("easy_margin", [False, True])
@pytest.mark.parametrize("s,m", [(64.0, 0.5), (30.0, 0.3)])
def test_arcface_matches_naive_with_gradients(easy_margin, s, m):
    cosine, labels = _inputs()
    assert math.acos(-0.97) + m > math.pi  # the fallback branch is exercised
    a = cosine.clone().requires_grad_(True)
    b = cosine.clone().requires_grad_(True)
    fast = arcface_logits(a, labels, s=s, m=m, easy_margin=easy_margin)
    slow = naive_arcface(b, labels, s, m, easy_margin)
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-10)
    weights = torch.randn(fast.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (fast * weights).sum().backward()
    (slow * weights).sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-8, atol=1e-8)


def test_arcface_fallback_branch_values():
    # theta + m > pi: target logit is s * (cos theta - m sin m), continuous at the boundary
    s, m = 64.0, 0.5
    boundary = math.cos(math.pi - m)
    labels = torch.tensor([0])
    below = arcface_logits(torch.tensor([[boundary - 1e-9, 0.0]], dtype=torch.float64), labels, s, m)[0, 0]
    above = arcface_logits(torch.tensor([[boundary + 1e-9, 0.0]], dtype=torch.float64), labels, s, m)[0, 0]
    # on both sides of theta + m = pi the target logit is penalised (below s * cos theta); the standard
    # fallback is not continuous there: cos(pi) = -1 vs cos(pi - m) - m sin m
    assert float(above) == pytest.approx(-s, abs=1e-5)
    assert float(below) == pytest.approx(s * (boundary - m * math.sin(m)), abs=1e-5)
    assert float(below) < s * boundary and float(above) < s * boundary
    value = arcface_logits(torch.tensor([[-0.99, 0.1]], dtype=torch.float64), labels, s, m)
    assert float(value[0, 0]) == pytest.approx(s * (-0.99 - m * math.sin(m)))
    assert float(value[0, 1]) == pytest.approx(s * 0.1)


def test_cosface_matches_naive_with_gradients():
    cosine, labels = _inputs(3)
    a = cosine.clone().requires_grad_(True)
    b = cosine.clone().requires_grad_(True)
    fast, slow = cosface_logits(a, labels, s=64.0, m=0.35), naive_cosface(b, labels, 64.0, 0.35)
    torch.testing.assert_close(fast, slow)
    fast.pow(2).sum().backward()
    slow.pow(2).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="labels"):
        arcface_logits(torch.zeros(3, 4), torch.tensor([0, 5, 1]))
    with pytest.raises(ValueError, match=r"\(B, C\)"):
        cosface_logits(torch.zeros(3), torch.tensor([0, 1, 2]))
