"""Binary live/spoof metrics: AUC, EER, HTER, TPR@FPR and ROC points.

Convention (one polarity everywhere): label 1 = bona fide, 0 = attack; score = P(bona fide); a
sample is accepted when ``score >= threshold``. FAR = attacks accepted / attacks (APCER pooled over
species), FRR = bona fide rejected / bona fide (BPCER). HTER = (FAR + FRR) / 2 as in the
cross-domain FAS literature (e.g. FLIP, Srivatsan et al., ICCV 2023).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from facetrust.metrics._counts import accepted_counts, eer_columns
from facetrust.metrics._inputs import check_fraction, check_labels, check_scores, check_threshold


class RocPoints(NamedTuple):
    """One point per distinct threshold, thresholds descending; the first is +inf (nothing accepted)."""

    fpr: np.ndarray  # attacks accepted / attacks (FAR)
    tpr: np.ndarray  # bona fide accepted / bona fide (1 - FRR)
    thresholds: np.ndarray


def _checked(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    scores = check_scores(scores)
    return scores, check_labels(labels, scores.size)


def _binary_counts(scores: np.ndarray, bona_fide: np.ndarray):
    counts = accepted_counts(scores, np.stack([bona_fide, ~bona_fide]))
    bona_accepted, attack_accepted = counts.accepted[0]
    n_bona, n_attack = counts.totals[0]
    return counts.thresholds, bona_accepted, attack_accepted, n_bona, n_attack


def auc(scores: Any, labels: Any) -> float:
    """Area under the ROC curve with bona fide as the positive class (scikit-learn's
    ``roc_auc_score``); 0.5 = chance, 1 = every bona fide scores above every attack."""
    from sklearn.metrics import roc_auc_score

    scores, bona_fide = _checked(scores, labels)
    return float(roc_auc_score(bona_fide, scores))


def roc_points(scores: Any, labels: Any) -> RocPoints:
    """FAR (fpr) and 1 - FRR (tpr) at every distinct observed score plus +inf; the same points as
    ``sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)``."""
    scores, bona_fide = _checked(scores, labels)
    thresholds, bona_accepted, attack_accepted, n_bona, n_attack = _binary_counts(scores, bona_fide)
    return RocPoints(attack_accepted / n_attack, bona_accepted / n_bona, np.append(np.inf, thresholds))


def eer(scores: Any, labels: Any) -> tuple[float, float]:
    """Equal error rate and its threshold: (EER, threshold).

    The threshold is the observed score where |FAR - FRR| is smallest (ties: smaller FAR + FRR,
    then the lower threshold) and EER = (FAR + FRR) / 2 there, so with few samples the EER is the
    midpoint of the two rates rather than an interpolation between scores.
    """
    scores, bona_fide = _checked(scores, labels)
    thresholds, bona_accepted, attack_accepted, n_bona, n_attack = _binary_counts(scores, bona_fide)
    column = int(eer_columns(bona_accepted[None], attack_accepted[None], n_bona[None], n_attack[None])[0])
    far = attack_accepted[column] / n_attack
    frr = (n_bona - bona_accepted[column]) / n_bona
    return float((far + frr) / 2.0), float(thresholds[column - 1])


def far_frr(scores: Any, labels: Any, threshold: float) -> tuple[float, float]:
    """(FAR, FRR) at ``threshold``: attacks with score >= threshold, bona fide with score < threshold."""
    scores, bona_fide = _checked(scores, labels)
    threshold = check_threshold(threshold)
    accepted = scores >= threshold
    return float(accepted[~bona_fide].mean()), float(1.0 - accepted[bona_fide].mean())


def hter(scores: Any, labels: Any, threshold: float) -> float:
    """Half total error rate (FAR + FRR) / 2 at a given threshold (score >= threshold accepted)."""
    far, frr = far_frr(scores, labels, threshold)
    return (far + frr) / 2.0


def tpr_at_fpr(scores: Any, labels: Any, fpr: float = 0.01) -> float:
    """The highest TPR (bona fide accepted) over thresholds whose FPR (attacks accepted) is <= fpr.

    Thresholds range over the observed scores and +inf, so the result is 0.0 when even the
    highest-scoring attack alone exceeds the FPR budget.
    """
    fpr = check_fraction(fpr, "fpr")
    scores, bona_fide = _checked(scores, labels)
    _, bona_accepted, attack_accepted, n_bona, n_attack = _binary_counts(scores, bona_fide)
    allowed = attack_accepted / n_attack <= fpr
    return float(np.max(np.where(allowed, bona_accepted / n_bona, 0.0)))

