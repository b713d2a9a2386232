"""Face verification metrics: the LFW pairs protocol as insightface runs it, plus ROC figures.

``lfw_verification(emb1, emb2, same, folds=10)``: ``emb1``/``emb2`` are (N, D) L2-normalised
(flip-fused) embeddings of the two images of each pair, ``same`` is (N,) bool. The distance is the
squared L2 distance; pairs are split into ``folds`` consecutive blocks (as pairs.txt orders them);
for every fold the threshold that maximises accuracy on the other folds is applied to it, and the
accuracy is reported as mean and (population) standard deviation over folds. ROC AUC, EER and
TAR@FAR use the similarity ``-distance`` over all pairs (``facetrust.metrics.binary``).

A pair is declared "same" when ``distance < threshold``. Candidate thresholds are the midpoints
between consecutive distinct training distances plus one below the smallest and one above the
largest; ties in accuracy go to the smallest threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from facetrust.metrics._inputs import MetricError


def _array(values: Any, name: str) -> np.ndarray:
    """A list, NumPy array or torch tensor (any shape) as a float64/bool NumPy array."""
    if type(values).__module__.split(".")[0] == "torch":
        values = values.detach().cpu()
        values = values.double().numpy() if values.dtype.is_floating_point else values.numpy()
    array = np.asarray(values)
    if array.ndim == 0:
        raise MetricError(f"{name} must be an array, got a single value {array!r}")
    return array


def _checked(emb1: Any, emb2: Any, same: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = _array(emb1, "emb1").astype(np.float64)
    b = _array(emb2, "emb2").astype(np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise MetricError(f"emb1 and emb2 must both be (N, D); got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise MetricError("embeddings contain NaN or infinity")
    labels = _array(same, "same")
    if labels.shape != (a.shape[0],):
        raise MetricError(f"same must be (N,) = ({a.shape[0]},), got {labels.shape}")
    if labels.dtype != bool:
        if not np.isin(labels, (0, 1)).all():
            raise MetricError("same must be bool (or 0/1)")
        labels = labels.astype(bool)
    return a, b, labels


def squared_distances(emb1: Any, emb2: Any) -> np.ndarray:
    """(N,) squared L2 distance between row i of ``emb1`` and row i of ``emb2``."""
    a = _array(emb1, "emb1").astype(np.float64)
    b = _array(emb2, "emb2").astype(np.float64)
    return ((a - b) ** 2).sum(axis=1)


def candidate_thresholds(distances: np.ndarray) -> np.ndarray:
    """Midpoints between consecutive distinct distances, plus one below and one above them all."""
    unique = np.unique(distances)
    if unique.size == 0:
        return np.array([0.0])
    return np.concatenate([[unique[0] - 1.0], (unique[1:] + unique[:-1]) / 2.0, [unique[-1] + 1.0]])


def best_threshold(distances: Any, same: Any) -> tuple[float, float]:
    """(threshold, accuracy): the distance threshold (same when ``d < t``) with the best accuracy;
    ties go to the smallest threshold."""
    d = np.asarray(distances, dtype=np.float64)
    labels = np.asarray(same, dtype=bool)
    if d.size == 0:
        raise MetricError("best_threshold needs at least one pair")
    candidates = candidate_thresholds(d)
    order = np.argsort(d, kind="stable")
    sorted_d, sorted_same = d[order], labels[order]
    # pairs with d < t for each candidate: a prefix of the sorted distances
    below = np.searchsorted(sorted_d, candidates, side="left")
    same_below = np.concatenate([[0], np.cumsum(sorted_same)])[below]
    different_above = (~labels).sum() - (below - same_below)
    accuracy = (same_below + different_above) / d.size
    best = int(np.argmax(accuracy))
    return float(candidates[best]), float(accuracy[best])


def lfw_verification(emb1: Any, emb2: Any, same: Any, folds: int = 10) -> dict[str, Any]:
    """The LFW 10-fold protocol on (N, D) normalised embedding pairs; see the module docstring.

    Returns ``accuracy``, ``accuracy_std``, ``thresholds`` (one squared-distance threshold per fold),
    ``auc``, ``eer``, ``tar@far=1e-3``, ``tar@far=1e-2`` (fractions, not %), and ``pairs``.
    """
    from facetrust.metrics.binary import auc, eer, tpr_at_fpr

    a, b, labels = _checked(emb1, emb2, same)
    if not isinstance(folds, int) or folds < 2:
        raise MetricError(f"folds must be an integer >= 2, got {folds!r}")
    if a.shape[0] < folds:
        raise MetricError(f"{a.shape[0]} pairs cannot form {folds} folds")
    if labels.all() or not labels.any():
        raise MetricError("verification needs both matched and mismatched pairs")
    distances = ((a - b) ** 2).sum(axis=1)
    blocks = np.array_split(np.arange(distances.size), folds)
    accuracies, thresholds = [], []
    for block in blocks:
        train = np.setdiff1d(np.arange(distances.size), block)
        threshold, _ = best_threshold(distances[train], labels[train])
        thresholds.append(threshold)
        accuracies.append(float(((distances[block] < threshold) == labels[block]).mean()))
    similarity = -distances
    return {
        "accuracy": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "fold_accuracies": accuracies,
        "thresholds": thresholds,
        "auc": auc(similarity, labels),
        "eer": eer(similarity, labels)[0],
        "tar@far=1e-3": tpr_at_fpr(similarity, labels, 1e-3),
        "tar@far=1e-2": tpr_at_fpr(similarity, labels, 1e-2),
        "pairs": int(distances.size),
    }


def distance_to_cosine(distance: float) -> float:
    """Squared L2 distance between unit vectors -> cosine similarity (d = 2 - 2 cos)."""
    return 1.0 - float(distance) / 2.0
