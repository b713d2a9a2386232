"""FLIP-MCL losses against naive loop references, values and gradients."""

import math

import pytest
import torch

from facetrust.losses.flip import nt_xent, split_prompts, view_consistency_mse


def naive_nt_xent(z1, z2, temperature):
    """SimCLR's loss written out anchor by anchor (Chen et al. 2020, eq. 1)."""
    z = torch.cat([z1, z2])
    n = z.shape[0]
    b = z1.shape[0]
    total = 0.0
    for i in range(n):
        positive = (i + b) % n
        sims = [torch.dot(z[i], z[k]) / (z[i].norm() * z[k].norm()) / temperature for k in range(n)]
        denominator = sum(torch.exp(sims[k]) for k in range(n) if k != i)
        total = total - torch.log(torch.exp(sims[positive]) / denominator)
    return total / n


def naive_view_mse(v1, v2, ta, tb):
    terms = []
    for i in range(v1.shape[0]):
        ca = torch.dot(v1[i], ta[i]) / (v1[i].norm() * ta[i].norm())
        cb = torch.dot(v2[i], tb[i]) / (v2[i].norm() * tb[i].norm())
        terms.append((ca - cb) ** 2)
    return sum(terms) / len(terms)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_matches_naive_value_and_gradient(temperature):
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(5, 7, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(5, 7, generator=g, dtype=torch.float64, requires_grad=True)
    ours = nt_xent(z1, z2, temperature)
    ref = naive_nt_xent(z1, z2, temperature)
    assert torch.allclose(ours, ref, atol=1e-10)
    g_ours = torch.autograd.grad(ours, [z1, z2])
    g_ref = torch.autograd.grad(ref, [z1, z2])
    for a, b in zip(g_ours, g_ref, strict=True):
        assert torch.allclose(a, b, atol=1e-10)


def test_nt_xent_identical_views_far_lower_than_random():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(8, 16, generator=g)
    same = nt_xent(z, z.clone(), 0.1)
    other = nt_xent(z, torch.randn(8, 16, generator=g), 0.1)
    assert same < 0.1 < other
    # the chance level for random, uncorrelated views is about log(2B - 1)
    assert abs(other.item() - math.log(15)) < 3.0


def test_nt_xent_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(torch.randn(4, 3), torch.randn(5, 3))


def test_view_consistency_mse_matches_naive_value_and_gradient():
    g = torch.Generator().manual_seed(2)
    tensors = [torch.randn(6, 9, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(4)]
    ours = view_consistency_mse(*tensors)
    ref = naive_view_mse(*tensors)
    assert torch.allclose(ours, ref, atol=1e-12)
    for a, b in zip(torch.autograd.grad(ours, tensors), torch.autograd.grad(ref, tensors), strict=True):
        assert torch.allclose(a, b, atol=1e-12)


def test_view_consistency_zero_when_views_and_texts_agree():
    v = torch.randn(4, 5)
    t = torch.randn(4, 5)
    assert view_consistency_mse(v, 3 * v, t, t).item() < 1e-12


@pytest.mark.parametrize("count", [2, 5, 6, 11])
def test_split_prompts_disjoint_and_covering(count):
    prompts = [f"prompt {i}" for i in range(count)]
    for seed in range(20):
        a, b = split_prompts(prompts, seed)
        assert set(a).isdisjoint(b)
        assert sorted(a + b) == sorted(prompts)
        assert len(a) - len(b) in (0, 1) and len(b) >= 1
    assert split_prompts(prompts, 3) == split_prompts(prompts, 3)
    assert len({tuple(split_prompts(prompts, s)[0]) for s in range(20)}) > 1


def test_split_prompts_needs_two():
    with pytest.raises(ValueError, match="at least 2"):
        split_prompts(["only one"], 0)
