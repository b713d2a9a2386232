"""lfw_verification against a naive loop; separable -> 100 %, random -> about 50 %."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from facetrust.metrics import lfw_verification
from facetrust.metrics.verification import best_threshold


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def naive_protocol(e1, e2, same, folds):
    d = [float(sum((a - b) ** 2 for a, b in zip(x, y, strict=True))) for x, y in zip(e1, e2, strict=True)]
    n = len(d)
    bounds = np.array_split(np.arange(n), folds)
    accs, ths = [], []
    for block in bounds:
        block = set(block.tolist())
        train = [i for i in range(n) if i not in block]
        values = sorted({d[i] for i in train})
        candidates = [values[0] - 1.0] + [(values[k] + values[k + 1]) / 2 for k in range(len(values) - 1)] + [values[-1] + 1.0]
        best_t, best_acc = None, -1.0
        for t in candidates:
            acc = sum((d[i] < t) == bool(same[i]) for i in train) / len(train)
            if acc > best_acc:
                best_t, best_acc = t, acc
        ths.append(best_t)
        accs.append(sum((d[i] < best_t) == bool(same[i]) for i in block) / len(block))
    return float(np.mean(accs)), float(np.std(accs)), ths, d


def _pairs(rng, n, noise):
    base = _unit(rng.normal(size=(n, 16)))
    same = np.zeros(n, bool)
    same[: n // 2] = True
    rng.shuffle(same)
    other = _unit(rng.normal(size=(n, 16)))
    e2 = np.where(same[:, None], _unit(base + noise * rng.normal(size=(n, 16))), other)
    return base, e2, same


def test_matches_naive_loop(rng):
    e1, e2, same = _pairs(rng, 120, 0.6)
    result = lfw_verification(e1, e2, same, folds=10)
    acc, std, ths, d = naive_protocol(e1, e2, same, 10)
    assert result["accuracy"] == pytest.approx(acc)
    assert result["accuracy_std"] == pytest.approx(std)
    assert result["thresholds"] == pytest.approx(ths)
    assert result["auc"] == pytest.approx(roc_auc_score(same, -np.asarray(d)))
    assert 0.6 < result["accuracy"] < 1.0  # noisy but informative


def test_separable_is_perfect(rng):
    e1, e2, same = _pairs(rng, 200, 0.05)
    result = lfw_verification(e1, e2, same)
    assert result["accuracy"] == 1.0 and result["accuracy_std"] == 0.0
    assert result["auc"] == 1.0 and result["eer"] == 0.0
    assert result["tar@far=1e-3"] == 1.0 and result["tar@far=1e-2"] == 1.0
    assert len(result["thresholds"]) == 10


def test_random_is_chance(rng):
    n = 3000
    e1, e2 = _unit(rng.normal(size=(n, 8))), _unit(rng.normal(size=(n, 8)))
    same = rng.random(n) < 0.5
    result = lfw_verification(e1, e2, same)
    assert abs(result["accuracy"] - 0.5) < 0.05
    assert abs(result["auc"] - 0.5) < 0.05


def test_best_threshold_ties_go_low():
    t, acc = best_threshold([0.1, 0.2, 0.9, 1.0], [True, True, False, False])
    assert acc == 1.0 and t == pytest.approx(0.55)


def test_bad_input():
    from facetrust.metrics import MetricError

    with pytest.raises(MetricError, match="both matched and mismatched"):
        lfw_verification(np.ones((20, 2)), np.ones((20, 2)), np.ones(20, bool))
    with pytest.raises(MetricError, match=r"\(N, D\)"):
        lfw_verification(np.ones((20, 2)), np.ones((20, 3)), np.ones(20, bool))
