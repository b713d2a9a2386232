"""The one engine behind every metric: accepted counts at every distinct threshold, batched.

Sorting the scores once and taking cumulative sums gives, for each distinct observed score ``t``
(descending), how many samples of each group have ``score >= t`` (i.e. are accepted). Column 0 is
the threshold +inf (nothing accepted). Optional sample weights of shape (R, n) evaluate R weighted
copies at once, which is how the bootstrap resamples (a video drawn k times = weight k on its frames).
All metrics are then a few vectorised operations on these counts; rates compare exactly because
the counts are integers (or integer-valued weights).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Counts(NamedTuple):
    thresholds: np.ndarray  # (T,) distinct observed scores, descending
    accepted: np.ndarray  # (R, K, T + 1) weighted number accepted; column 0 = threshold +inf
    totals: np.ndarray  # (R, K) weighted group sizes


def accepted_counts(
    scores: np.ndarray,
    groups: np.ndarray,
    weights: np.ndarray | None = None,
    max_thresholds: int | None = None,
    exact_at: tuple[float, ...] = (),
) -> Counts:
    """Counts for groups (K, n) bool (e.g. bona fide, attacks, each species) under weights (R, n).

    ``max_thresholds`` caps the number of candidate thresholds (used inside the bootstrap, where
    only interval estimates need the curve): tie blocks are merged into at most that many bins
    evenly spaced in rank, plus exact boundaries at the thresholds in ``exact_at``, so counts at
    those thresholds stay exact.
    """
    order = np.argsort(-scores, kind="stable")
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # first index of each tie block
    if max_thresholds is not None and starts.size > max_thresholds:
        kept = starts[np.linspace(0, starts.size - 1, max_thresholds).astype(np.int64)]
        cuts = np.searchsorted(-ordered, -np.asarray(exact_at, dtype=np.float64), side="right")
        starts = np.unique(np.concatenate([kept, cuts[cuts < ordered.size]]))
    ends = np.append(starts[1:], ordered.size) - 1  # last index of each bin; its score is the threshold
    groups = groups[:, order]
    if weights is None:
        per_bin = np.add.reduceat(groups.astype(np.int64), starts, axis=1)[None]  # (1, K, T)
    else:
        weights = weights[:, order]
        per_bin = np.stack([np.add.reduceat(weights * g, starts, axis=1) for g in groups], axis=1)
    cumulative = np.cumsum(per_bin, axis=2)
    zero = np.zeros(cumulative.shape[:2] + (1,), dtype=cumulative.dtype)
    accepted = np.concatenate([zero, cumulative], axis=2).astype(np.float64)
    return Counts(ordered[ends], accepted, accepted[:, :, -1].copy())


def rates(accepted: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """accepted / totals with NaN where a group is empty (a bootstrap resample may lose a species)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return accepted / totals[..., None]


def column_at(thresholds: np.ndarray, threshold: float) -> int:
    """Column of ``Counts.accepted`` for a decision ``score >= threshold``: the number of distinct
    observed scores that are >= threshold."""
    return int(np.searchsorted(-thresholds, -threshold, side="right"))


def eer_columns(bona_accepted: np.ndarray, attack_accepted: np.ndarray, n_bona: np.ndarray, n_attack: np.ndarray) -> np.ndarray:
    """Per row, the column (1..T, observed scores only) where |FAR - FRR| is smallest.

    Ties: the smaller (FAR + FRR), then the lower threshold. Compared on integer cross-products
    (FAR - FRR) * n_bona * n_attack, so equal rates tie exactly.
    """
    rejected_bona = n_bona[:, None] - bona_accepted[:, 1:]  # (R, T)
    false_accepts = attack_accepted[:, 1:]
    gap = np.abs(false_accepts * n_bona[:, None] - rejected_bona * n_attack[:, None])
    total = false_accepts * n_bona[:, None] + rejected_bona * n_attack[:, None]
    best = gap == gap.min(axis=1, keepdims=True)
    total = np.where(best, total, np.inf)
    best &= total == total.min(axis=1, keepdims=True)
    last = best.shape[1] - 1 - np.argmax(best[:, ::-1], axis=1)  # lowest threshold among ties
    return last + 1


def trapezoid_auc(bona_accepted: np.ndarray, attack_accepted: np.ndarray, n_bona: np.ndarray, n_attack: np.ndarray) -> np.ndarray:
    """Area under the ROC (x = attacks accepted, y = bona fide accepted); a tie block counts 1/2,
    which equals the Mann-Whitney statistic P(score_bona > score_attack) + P(tie) / 2."""
    width = np.diff(attack_accepted, axis=1)
    height = bona_accepted[:, 1:] + bona_accepted[:, :-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (width * height).sum(axis=1) / (2.0 * n_bona * n_attack)
