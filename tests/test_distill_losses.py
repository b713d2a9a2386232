"""KD losses against independent naive implementations (float64 loops), values and gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from facetrust.losses.distill import AFD, crd, feature_distill, icl, kd_kl, kd_mse, rkd_angle, rkd_distance

torch.set_num_threads(1)


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _softmax_row(row: list[torch.Tensor]) -> list[torch.Tensor]:
    top = max(float(v.detach()) for v in row)
    exps = [torch.exp(v - top) for v in row]
    total = sum(exps)
    return [e / total for e in exps]


def _normalise_row(row: torch.Tensor) -> torch.Tensor:
    return row / torch.sqrt(sum(v * v for v in row))


def _huber(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * x if abs(float(x)) < 1 else abs(x) - 0.5


# --- naive references: explicit loops, no vectorised library loss -------------------------------
def naive_kd_kl(s: torch.Tensor, t: torch.Tensor, temperature: float) -> torch.Tensor:
    total = 0
    for b in range(s.shape[0]):
        p_s = _softmax_row([v / temperature for v in s[b]])
        p_t = _softmax_row([v / temperature for v in t[b]])
        total = total + sum(pt * (torch.log(pt) - torch.log(ps)) for pt, ps in zip(p_t, p_s, strict=True))
    return total / s.shape[0] * temperature**2


def naive_feature(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    total = 0
    for b in range(s.shape[0]):
        ns, nt = _normalise_row(s[b]), _normalise_row(t[b])
        total = total + sum((ns[d] - nt[d]) ** 2 for d in range(s.shape[1]))
    return total / s.numel()


def naive_kl_rows(s_logits: list[list[torch.Tensor]], t_logits: list[list[torch.Tensor]]) -> torch.Tensor:
    total = 0
    for srow, trow in zip(s_logits, t_logits, strict=True):
        ps, pt = _softmax_row(srow), _softmax_row(trow)
        total = total + sum(b * (torch.log(b) - torch.log(a)) for a, b in zip(ps, pt, strict=True))
    return total / len(s_logits)


def naive_crd(si, st, ti, tt, temperature):
    si = [_normalise_row(r) for r in si]
    st = [_normalise_row(r) for r in st]
    ti = [_normalise_row(r) for r in ti]
    tt = [_normalise_row(r) for r in tt]
    s_logits = [[torch.dot(a, b) / temperature for b in st] for a in si]
    t_logits = [[torch.dot(a, b) / temperature for b in tt] for a in ti]
    s_cols = [[s_logits[i][k] for i in range(len(si))] for k in range(len(st))]
    t_cols = [[t_logits[i][k] for i in range(len(ti))] for k in range(len(tt))]
    return (naive_kl_rows(s_logits, t_logits) + naive_kl_rows(s_cols, t_cols)) / 2


def naive_icl(si, tt, scale, targets):
    total = 0
    for i, row in enumerate(si):
        logits = [scale * torch.dot(_normalise_row(row), _normalise_row(txt)) for txt in tt]
        total = total - torch.log(_softmax_row(logits)[int(targets[i])])
    return total / len(si)


def naive_rkd_distance(s, t):
    def distances(e):
        n = e.shape[0]
        d = [[torch.sqrt(((e[i] - e[j]) ** 2).sum()) if i != j else torch.zeros((), dtype=e.dtype)
              for j in range(n)] for i in range(n)]
        mean = sum(d[i][j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        return [[v / mean for v in row] for row in d]

    ds, dt = distances(s), distances(t.detach())
    n = s.shape[0]
    return sum(_huber(ds[i][j] - dt[i][j]) for i in range(n) for j in range(n)) / n**2


def naive_rkd_angle(s, t):
    def cosines(e):
        n = e.shape[0]
        out = {}
        for i in range(n):
            for j in range(n):
                for k in range(n):
                    if i == j or k == j:
                        out[i, j, k] = torch.zeros((), dtype=e.dtype)
                    else:
                        u, v = _normalise_row(e[i] - e[j]), _normalise_row(e[k] - e[j])
                        out[i, j, k] = torch.dot(u, v)
        return out

    cs, ct = cosines(s), cosines(t.detach())
    return sum(_huber(cs[key] - ct[key]) for key in cs) / len(cs)


# --- tests ----------------------------------------------------------------------------------------
def _check_value_and_grad(fast, naive, *inputs):
    """fast(*inputs) == naive(*inputs) and so are the gradients w.r.t. the first input."""
    a = inputs[0].clone().requires_grad_(True)
    b = inputs[0].clone().requires_grad_(True)
    value_fast = fast(a, *inputs[1:])
    value_naive = naive(b, *inputs[1:])
    assert torch.allclose(value_fast, value_naive, rtol=1e-9, atol=1e-12), (value_fast, value_naive)
    (grad_fast,) = torch.autograd.grad(value_fast, a)
    (grad_naive,) = torch.autograd.grad(value_naive, b)
    assert torch.allclose(grad_fast, grad_naive, rtol=1e-7, atol=1e-10)
    assert grad_fast.abs().sum() > 0
    return float(value_fast)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_kd_kl_matches_naive_and_torch_kl_div(temperature):
    s, t = _rand(5, 2, seed=1) * 3, _rand(5, 2, seed=2) * 3
    _check_value_and_grad(lambda a, b: kd_kl(a, b, temperature), lambda a, b: naive_kd_kl(a, b, temperature), s, t)
    reference = F.kl_div(F.log_softmax(s / temperature, 1), F.softmax(t / temperature, 1), reduction="batchmean")
    assert torch.allclose(kd_kl(s, t, temperature), reference * temperature**2)
    assert float(kd_kl(t, t, temperature)) == pytest.approx(0.0, abs=1e-12)


def test_kd_mse_matches_naive():
    s, t = _rand(4, 2, seed=3), _rand(4, 2, seed=4)
    naive = lambda a, b: sum((a[i, j] - b[i, j]) ** 2 for i in range(4) for j in range(2)) / 8  # noqa: E731
    _check_value_and_grad(kd_mse, naive, s, t)
    assert float(kd_mse(t, t)) == 0.0


def test_feature_distill_matches_naive_and_is_scale_free():
    s, t = _rand(4, 6, seed=5), _rand(4, 6, seed=6)
    _check_value_and_grad(feature_distill, naive_feature, s, t)
    assert float(feature_distill(3.0 * t, t)) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="embed_dim"):
        feature_distill(_rand(4, 5), t)


def test_crd_matches_naive_both_directions():
    si, ti = _rand(5, 4, seed=7), _rand(5, 4, seed=8)
    txt = _rand(2, 4, seed=9)
    _check_value_and_grad(lambda a, b, c, d: crd(a, b, c, d, 0.5),
                          lambda a, b, c, d: naive_crd(a, b, c, d, 0.5), si, txt, ti, txt)
    assert float(crd(ti, txt, ti, txt, 0.07)) == pytest.approx(0.0, abs=1e-12)
    # The text-to-image term is relational: a batch permutation of the student alone changes it.
    assert float(crd(ti[[1, 0, 2, 3, 4]], txt, ti, txt, 0.5)) > 1e-4


@pytest.mark.parametrize("paired", [False, True])
def test_icl_matches_naive(paired):
    si = _rand(4, 3, seed=10)
    if paired:
        txt, targets = _rand(4, 3, seed=11), torch.arange(4)
    else:
        txt, targets = _rand(2, 3, seed=12), torch.tensor([0, 1, 1, 0])
    _check_value_and_grad(lambda a, b: icl(a, b, 10.0, None if paired else targets),
                          lambda a, b: naive_icl(a, b, 10.0, targets), si, txt)
    reference = F.cross_entropy(10.0 * F.normalize(si, dim=1) @ F.normalize(txt, dim=1).t(), targets)
    assert torch.allclose(icl(si, txt, 10.0, targets), reference)


def test_rkd_distance_matches_naive_and_invariances():
    s, t = _rand(5, 4, seed=13), _rand(5, 4, seed=14)
    value = _check_value_and_grad(rkd_distance, naive_rkd_distance, s, t)
    assert value > 0
    assert float(rkd_distance(t, t)) == pytest.approx(0.0, abs=1e-12)
    # Invariant to scaling either side and to translation / rotation (distances only).
    assert float(rkd_distance(7.5 * s, t)) == pytest.approx(value, rel=1e-9)
    assert float(rkd_distance(s, 0.1 * t)) == pytest.approx(value, rel=1e-9)
    rotation, _ = torch.linalg.qr(_rand(4, 4, seed=15))
    assert float(rkd_distance(s @ rotation + 2.0, t)) == pytest.approx(value, rel=1e-9)
    assert float(rkd_distance(3.0 * t, t)) == pytest.approx(0.0, abs=1e-12)


def test_rkd_angle_matches_naive_and_invariances():
    s, t = _rand(4, 3, seed=16), _rand(4, 3, seed=17)
    value = _check_value_and_grad(rkd_angle, naive_rkd_angle, s, t)
    assert value > 0
    assert float(rkd_angle(t, t)) == pytest.approx(0.0, abs=1e-12)
    assert float(rkd_angle(4.0 * s - 1.0, t)) == pytest.approx(value, rel=1e-9)


def test_rkd_rejects_too_small_batches():
    with pytest.raises(ValueError, match="at least 2"):
        rkd_distance(_rand(1, 3), _rand(1, 3))
    with pytest.raises(ValueError, match="at least 3"):
        rkd_angle(_rand(2, 3), _rand(2, 3))


# --- AFD ------------------------------------------------------------------------------------------
def naive_afd(module: AFD, student_maps, teacher_maps) -> torch.Tensor:
    """Loops over samples, teacher and student layers; block-mean pooling written out by hand."""
    batch = student_maps[0].shape[0]
    query = [q(f.mean(dim=(2, 3))) for q, f in zip(module.query, teacher_maps, strict=True)]  # library layers
    key = [k(f.mean(dim=(2, 3))) for k, f in zip(module.key, student_maps, strict=True)]
    n_t, n_s, d = len(teacher_maps), len(student_maps), module.qk_dim
    bilinear = module.bilinear(torch.cat([key[s][b : b + 1] for b in range(batch) for s in range(n_s)]))
    total = 0
    for t in range(n_t):
        target_full = teacher_maps[t]
        gh, gw = target_full.shape[-2:]
        layer_loss = 0
        for b in range(batch):
            logits = []
            for s in range(n_s):
                bk = bilinear[b * n_s + s][t * d : (t + 1) * d]
                position = torch.dot(module.teacher_position[t], module.student_position[s])
                logits.append((torch.dot(bk, query[t][b]) + position) / math.sqrt(d))
            weights = _softmax_row(logits)
            energy_t = (target_full[b] ** 2).mean(dim=0).reshape(-1)
            energy_t = energy_t / torch.sqrt((energy_t**2).sum())
            for s in range(n_s):
                fmap = (student_maps[s][b] ** 2).mean(dim=0)
                h, w = fmap.shape
                pooled = torch.stack([
                    fmap[i * h // gh : (i + 1) * h // gh, j * w // gw : (j + 1) * w // gw].mean()
                    for i in range(gh) for j in range(gw)
                ])
                pooled = pooled / torch.sqrt((pooled**2).sum())
                layer_loss = layer_loss + weights[s] * ((pooled - energy_t) ** 2).mean()
        total = total + layer_loss / batch
    return total


def _afd_inputs():
    student = [_rand(3, 4, 8, 8, seed=20), _rand(3, 6, 4, 4, seed=21)]
    teacher = [_rand(3, 5, 4, 4, seed=22), _rand(3, 5, 4, 4, seed=23), _rand(3, 7, 2, 2, seed=24)]
    return student, teacher


@pytest.mark.parametrize("train_mode", [True, False])
def test_afd_matches_naive_values_and_gradients(train_mode):
    torch.manual_seed(0)
    student, teacher = _afd_inputs()
    module = AFD([5, 5, 7], [4, 6], qk_dim=8).double().train(train_mode)
    s_fast = [f.clone().requires_grad_(True) for f in student]
    s_naive = [f.clone().requires_grad_(True) for f in student]
    fast = module(s_fast, teacher)
    naive = naive_afd(module, s_naive, teacher)
    assert torch.allclose(fast, naive, rtol=1e-9), (fast, naive)
    grads_fast = torch.autograd.grad(fast, s_fast + list(module.parameters()))
    grads_naive = torch.autograd.grad(naive, s_naive + list(module.parameters()))
    for g_fast, g_naive in zip(grads_fast, grads_naive, strict=True):
        assert torch.allclose(g_fast, g_naive, rtol=1e-6, atol=1e-12)
    assert all(g.abs().sum() > 0 for g in grads_fast[:2])  # both student layers receive gradient


def test_afd_attention_rows_sum_to_one_and_zero_for_identical_single_layer():
    student, teacher = _afd_inputs()
    module = AFD([5, 5, 7], [4, 6], qk_dim=8).double()
    weights = module.attention(student, teacher)
    assert weights.shape == (3, 3, 2)
    assert torch.allclose(weights.sum(dim=2), torch.ones(3, 3, dtype=torch.float64))
    single = AFD([5], [5], qk_dim=4).double()
    assert float(single([teacher[0]], [teacher[0]])) == pytest.approx(0.0, abs=1e-15)
    assert float(single([teacher[1]], [teacher[0]])) > 0
    with pytest.raises(ValueError, match="teacher"):
        module(student, teacher[:2])
