"""facetrust.metrics against scikit-learn, naive loops with exact fractions, and hand-computed cases."""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from facetrust import metrics
from facetrust.errors import FacetrustError
from facetrust.metrics import MetricError

# ---------------------------------------------------------------- naive references (exact arithmetic)


def naive_rates(scores, labels, t):
    """(FAR, FRR) as Fractions by looping over samples."""
    fa = sum(1 for s, y in zip(scores, labels, strict=True) if y == 0 and s >= t)
    fr = sum(1 for s, y in zip(scores, labels, strict=True) if y == 1 and s < t)
    n_attack = sum(1 for y in labels if y == 0)
    n_bona = sum(1 for y in labels if y == 1)
    return Fraction(fa, n_attack), Fraction(fr, n_bona)


def naive_auc(scores, labels):
    bona = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    attack = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    wins = sum(1.0 if b > a else 0.5 if b == a else 0.0 for b in bona for a in attack)
    return wins / (len(bona) * len(attack))


def naive_eer(scores, labels):
    """Smallest |FAR - FRR| over observed scores; ties: smaller FAR + FRR, then lower threshold."""
    best = None
    for t in sorted(set(scores)):
        far, frr = naive_rates(scores, labels, t)
        key = (abs(far - frr), far + frr)
        if best is None or key < best[0]:
            best = (key, float((far + frr) / 2), t)
    return best[1], best[2]


def naive_tpr_at_fpr(scores, labels, fpr):
    best = 0.0
    for t in sorted(set(scores)) + [float("inf")]:
        far, frr = naive_rates(scores, labels, t)
        if float(far) <= fpr:
            best = max(best, float(1 - frr))
    return best


def naive_species_apcer(scores, labels, types, t):
    out = {}
    for name in sorted({a for a, y in zip(types, labels, strict=True) if y == 0}):
        member = [s for s, y, a in zip(scores, labels, types, strict=True) if y == 0 and a == name]
        out[name] = sum(1 for s in member if s >= t) / len(member)
    return out


def naive_bpcer_at_apcer(scores, labels, types, apcer):
    best = 1.0
    for t in sorted(set(scores)) + [float("inf")]:
        if all(v <= apcer for v in naive_species_apcer(scores, labels, types, t).values()):
            best = min(best, float(naive_rates(scores, labels, t)[1]))
    return best


def random_case(seed, n=40, levels=8):
    """Scores on a coarse grid so that ties are frequent; both classes and three species present."""
    rng = np.random.default_rng(seed)
    labels = np.r_[0, 1, rng.integers(0, 2, n - 2)]
    scores = np.round(rng.integers(0, levels, n) / levels + 0.3 * labels, 3)
    types = np.where(labels == 1, "none", rng.choice(["print", "replay", "mask"], n))
    types[np.flatnonzero(labels == 0)[:3]] = ["print", "replay", "mask"][: min(3, int((labels == 0).sum()))]
    return scores.tolist(), labels.tolist(), types.tolist()


# ---------------------------------------------------------------- hand-computed cases

SCORES = [0.1, 0.4, 0.35, 0.8]
LABELS = [0, 0, 1, 1]
TYPES = ["print", "replay", "none", "none"]


def test_hand_computed_small_case():
    # pairs (bona, attack): (0.35,0.1) win, (0.35,0.4) loss, (0.8,0.1) win, (0.8,0.4) win -> 3/4
    assert metrics.auc(SCORES, LABELS) == 0.75
    # thresholds 0.1: FAR 1 FRR 0; 0.35: FAR 1/2 FRR 0; 0.4: FAR 1/2 FRR 1/2; 0.8: FAR 0 FRR 1/2
    assert metrics.eer(SCORES, LABELS) == (0.5, 0.4)
    roc = metrics.roc_points(SCORES, LABELS)
    np.testing.assert_array_equal(roc.thresholds, [np.inf, 0.8, 0.4, 0.35, 0.1])
    np.testing.assert_array_equal(roc.fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_array_equal(roc.tpr, [0, 0.5, 0.5, 1, 1])
    assert metrics.tpr_at_fpr(SCORES, LABELS, 0.0) == 0.5
    assert metrics.tpr_at_fpr(SCORES, LABELS, 0.5) == 1.0


def test_threshold_exactly_at_a_score_is_accepted():
    # 0.35 (bona fide) and 0.4 (attack) are accepted at t = 0.35: FAR 1/2, FRR 0
    assert metrics.far_frr(SCORES, LABELS, 0.35) == (0.5, 0.0)
    assert metrics.hter(SCORES, LABELS, 0.35) == 0.25
    # just above 0.35 the bona fide 0.35 is rejected
    assert metrics.hter(SCORES, LABELS, np.nextafter(0.35, 1)) == 0.5
    # at 0.4 the attack 0.4 is accepted, just above it is rejected
    assert metrics.far_frr(SCORES, LABELS, 0.4) == (0.5, 0.5)
    assert metrics.far_frr(SCORES, LABELS, np.nextafter(0.4, 1)) == (0.0, 0.5)
    pad = metrics.iso_pad(SCORES, LABELS, TYPES, 0.4)
    assert pad == {"apcer_per_species": {"print": 0.0, "replay": 1.0}, "apcer": 1.0, "bpcer": 0.5, "acer": 0.75}


def test_all_scores_tied():
    scores, labels = [0.5] * 4, [0, 1, 0, 1]
    assert metrics.auc(scores, labels) == 0.5
    assert metrics.eer(scores, labels) == (0.5, 0.5)  # only threshold 0.5: FAR 1, FRR 0
    assert metrics.tpr_at_fpr(scores, labels, 0.5) == 0.0  # accepting the tie block gives FPR 1
    assert metrics.bpcer_at_apcer(scores, labels, ["print", "none", "replay", "none"], 0.5) == 1.0


def test_eer_tie_in_gap_and_sum_takes_the_lower_threshold():
    # t = 0.2: FAR 1/2 (attack 0.2 accepted), FRR 0; t = 0.4: FAR 0, FRR 1/2 -> same gap and sum
    scores, labels = [0.0, 0.2, 0.4, 0.2], [0, 1, 1, 0]
    assert metrics.eer(scores, labels) == (0.25, 0.2)
    assert naive_eer(scores, labels) == (0.25, 0.2)


def test_tie_across_classes_counts_half_in_auc():
    scores, labels = [0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1]
    assert metrics.auc(scores, labels) == pytest.approx((1 + 0.5 + 1 + 1) / 4)


def test_iso_pad_and_bpcer_at_apcer_hand():
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.2, 0.1]
    labels = [1, 0, 1, 0, 1, 0, 1, 0]
    types = ["none", "print", "none", "replay", "none", "print", "none", "replay"]
    # APCER <= 0: print 0.8 must be rejected -> t > 0.8 -> only 0.9 accepted: BPCER 3/4
    assert metrics.bpcer_at_apcer(scores, labels, types, 0.0) == 0.75
    assert metrics.threshold_at_apcer(scores, labels, types, 0.0) == 0.9
    # APCER <= 0.5: t = 0.5 accepts print 0.8 (1/2) and replay 0.6 (1/2), rejects bona fide 0.2:
    # BPCER 1/4; t = 0.3 would accept both prints (APCER 1)
    assert metrics.bpcer_at_apcer(scores, labels, types, 0.5) == 0.25
    assert metrics.threshold_at_apcer(scores, labels, types, 0.5) == 0.5
    # every species above the budget rejects everything above the maximum score
    t = metrics.threshold_at_apcer([0.9, 0.9], [1, 0], ["none", "print"], 0.0)
    assert t > 0.9 and np.isfinite(t)
    pad = metrics.iso_pad(scores, labels, types, 0.55)
    assert pad["apcer_per_species"] == {"print": 0.5, "replay": 0.5}
    assert pad["bpcer"] == 0.5 and pad["acer"] == 0.5  # bona fide 0.5 and 0.2 rejected


# ---------------------------------------------------------------- against references on random ties


@pytest.mark.parametrize("seed", range(12))
def test_against_sklearn_and_naive_loops(seed):
    scores, labels, types = random_case(seed)
    assert metrics.auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert metrics.auc(scores, labels) == pytest.approx(naive_auc(scores, labels), abs=1e-12)
    fpr, tpr, thr = roc_curve(labels, scores, drop_intermediate=False)
    ours = metrics.roc_points(scores, labels)
    np.testing.assert_allclose(ours.fpr, fpr)
    np.testing.assert_allclose(ours.tpr, tpr)
    np.testing.assert_array_equal(ours.thresholds, thr)
    value, threshold = metrics.eer(scores, labels)
    ref_value, ref_threshold = naive_eer(scores, labels)
    assert threshold == ref_threshold and value == pytest.approx(ref_value, abs=1e-12)
    for t in sorted(set(scores))[::2] + [0.0, 2.0]:
        far, frr = naive_rates(scores, labels, t)
        assert metrics.hter(scores, labels, t) == pytest.approx(float((far + frr) / 2), abs=1e-12)
        pad = metrics.iso_pad(scores, labels, types, t)
        ref = naive_species_apcer(scores, labels, types, t)
        assert pad["apcer_per_species"] == pytest.approx(ref)
        assert pad["apcer"] == max(ref.values()) and pad["bpcer"] == pytest.approx(float(frr))
    for budget in (0.0, 0.01, 0.1, 0.25, 0.5, 1.0):
        assert metrics.tpr_at_fpr(scores, labels, budget) == pytest.approx(naive_tpr_at_fpr(scores, labels, budget))
        assert metrics.bpcer_at_apcer(scores, labels, types, budget) == pytest.approx(
            naive_bpcer_at_apcer(scores, labels, types, budget))
        t = metrics.threshold_at_apcer(scores, labels, types, budget)
        assert max(naive_species_apcer(scores, labels, types, t).values()) <= budget
        lower = [s for s in set(scores) if s < t]
        if lower:  # the next lower observed score breaks the budget: t is the largest acceptance
            assert max(naive_species_apcer(scores, labels, types, max(lower)).values()) > budget


def test_fpr_budget_met_exactly():
    # 29 of 100 attacks above every bona fide: FPR = 0.29 exactly must be allowed at fpr = 0.29
    scores = np.r_[np.linspace(0.9, 0.99, 29), np.full(71, 0.1), np.full(10, 0.5)]
    labels = np.r_[np.zeros(100), np.ones(10)]
    assert metrics.tpr_at_fpr(scores, labels, 0.29) == 1.0
    assert metrics.tpr_at_fpr(scores, labels, 0.28) == 0.0


# ---------------------------------------------------------------- input types


def test_numpy_and_tensor_inputs_agree():
    import torch

    scores, labels, types = random_case(3)
    expected = metrics.eer(scores, labels)
    assert metrics.eer(np.asarray(scores), np.asarray(labels, dtype=np.int8)) == expected
    tensor = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
    assert metrics.eer(tensor, torch.tensor(labels)) == expected
    assert metrics.auc(torch.tensor(scores).to(torch.bfloat16), torch.tensor(labels, dtype=torch.bool)) == pytest.approx(
        roc_auc_score(labels, torch.tensor(scores).to(torch.bfloat16).double().numpy()))
    assert metrics.iso_pad(tensor, labels, np.asarray(types), 0.5) == metrics.iso_pad(scores, labels, types, 0.5)


def test_one_million_scores_fast():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 1_000_000)
    scores = rng.normal(labels, 1.0)
    types = np.where(labels == 1, "none", np.where(rng.random(labels.size) < 0.5, "print", "replay"))
    start = time.perf_counter()
    value, threshold = metrics.eer(scores, labels)
    metrics.tpr_at_fpr(scores, labels)
    metrics.bpcer_at_apcer(scores, labels, types, 0.05)
    elapsed = time.perf_counter() - start
    assert elapsed < 20.0, elapsed  # seconds on a shared 2-core machine; ~1 s when idle
    far, frr = metrics.far_frr(scores, labels, threshold)
    assert value == pytest.approx((far + frr) / 2) and abs(far - frr) < 1e-3
    assert value == pytest.approx(0.3085, abs=3e-3)  # two unit Gaussians 1 apart: Phi(-0.5)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        ([0.1, 0.2], [1, 1], "no attack"),
        ([0.1, 0.2], [0, 0], "no bona fide"),
        ([0.1, 0.2, 0.3], [0, 1], "length mismatch"),
        ([0.1, float("nan")], [0, 1], "NaN or infinite"),
        ([0.1, float("inf")], [0, 1], "NaN or infinite"),
        ([0.1, 0.2], [0, 2], "must be 0 (attack) or 1"),
        ([0.1, 0.2], [-1, 1], "must be 0 (attack) or 1"),
        ([0.1, 0.2], [0, 0.5], "must be 0 (attack) or 1"),
        ([0.1, 0.2], ["live", "spoof"], "must be 0 (attack) or 1"),
        ([], [], "empty"),
        ([[0.1, 0.2]], [[0, 1]], "1-D"),
        (["a", "b"], [0, 1], "must be numbers"),
        (0.5, [1], "single value"),
    ],
)
def test_errors(scores, labels, message):
    for call in (
        lambda: metrics.auc(scores, labels),
        lambda: metrics.eer(scores, labels),
        lambda: metrics.hter(scores, labels, 0.5),
        lambda: metrics.tpr_at_fpr(scores, labels),
        lambda: metrics.roc_points(scores, labels),
        lambda: metrics.iso_pad(scores, labels, ["print"] * np.size(labels), 0.5),
        lambda: metrics.bpcer_at_apcer(scores, labels, ["print"] * np.size(labels), 0.1),
    ):
        with pytest.raises(MetricError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
            call()
        assert isinstance(info.value, ValueError) and isinstance(info.value, FacetrustError)


def test_parameter_errors():
    with pytest.raises(MetricError, match="fpr must be in"):
        metrics.tpr_at_fpr(SCORES, LABELS, 1.5)
    with pytest.raises(MetricError, match="apcer must be in"):
        metrics.bpcer_at_apcer(SCORES, LABELS, TYPES, -0.1)
    with pytest.raises(MetricError, match="threshold is NaN"):
        metrics.hter(SCORES, LABELS, float("nan"))
    with pytest.raises(MetricError, match="length mismatch"):
        metrics.iso_pad(SCORES, LABELS, TYPES[:3], 0.5)
    with pytest.raises(MetricError, match="needs a species"):
        metrics.iso_pad(SCORES, LABELS, ["print", "none", "none", "none"], 0.5)
