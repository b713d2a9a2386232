"""ISO/IEC 30107-3 presentation attack detection metrics.

APCER is computed per attack species (presentation attack instrument species: print, replay,
mask, ...) and the reported APCER is the worst species; BPCER = bona fide rejected / bona fide;
ACER = (APCER + BPCER) / 2. BPCER at a fixed APCER (1 %, 5 %, 10 %) is the standard operating
point summary. A sample is accepted as bona fide when ``score >= threshold``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from facetrust.metrics._counts import accepted_counts
from facetrust.metrics._inputs import (
    check_attack_types,
    check_fraction,
    check_labels,
    check_scores,
    check_threshold,
)


def _checked(scores: Any, labels: Any, attack_types: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores = check_scores(scores)
    bona_fide = check_labels(labels, scores.size)
    return scores, bona_fide, check_attack_types(attack_types, bona_fide)


def species_of(attack_types: np.ndarray, bona_fide: np.ndarray) -> list[str]:
    """Sorted attack species present among the attack samples."""
    return sorted(set(attack_types[~bona_fide].tolist()))


def iso_pad(scores: Any, labels: Any, attack_types: Any, threshold: float) -> dict[str, Any]:
    """APCER per species, APCER (worst species), BPCER and ACER at ``threshold``.

    Returns ``{"apcer_per_species": {species: rate}, "apcer": float, "bpcer": float, "acer": float}``.
    """
    scores, bona_fide, attack_types = _checked(scores, labels, attack_types)
    threshold = check_threshold(threshold)
    accepted = scores >= threshold
    per_species = {
        name: float(accepted[~bona_fide & (attack_types == name)].mean())
        for name in species_of(attack_types, bona_fide)
    }
    apcer = max(per_species.values())
    bpcer = float(1.0 - accepted[bona_fide].mean())
    return {"apcer_per_species": per_species, "apcer": apcer, "bpcer": bpcer, "acer": (apcer + bpcer) / 2.0}


def _feasible(scores: np.ndarray, bona_fide: np.ndarray, attack_types: np.ndarray, apcer: float):
    """Per candidate threshold (+inf, then observed scores descending): BPCER and whether every
    species' APCER is <= apcer."""
    species = species_of(attack_types, bona_fide)
    groups = np.stack([bona_fide] + [~bona_fide & (attack_types == name) for name in species])
    counts = accepted_counts(scores, groups)
    accepted, totals = counts.accepted[0], counts.totals[0]
    feasible = np.all(accepted[1:] / totals[1:, None] <= apcer, axis=0)
    bpcer = 1.0 - accepted[0] / totals[0]
    return counts.thresholds, bpcer, feasible


def bpcer_at_apcer(scores: Any, labels: Any, attack_types: Any, apcer: float) -> float:
    """The lowest BPCER over thresholds at which every species' APCER is <= ``apcer``.

    Thresholds range over the observed scores and +inf (reject all, BPCER = 1), so a budget no
    observed score meets gives 1.0.
    """
    apcer = check_fraction(apcer, "apcer")
    scores, bona_fide, attack_types = _checked(scores, labels, attack_types)
    _, bpcer, feasible = _feasible(scores, bona_fide, attack_types, apcer)
    return float(np.min(bpcer[feasible]))


def threshold_at_apcer(scores: Any, labels: Any, attack_types: Any, apcer: float) -> float:
    """The lowest threshold (largest acceptance) at which every species' APCER is <= ``apcer``.

    It is an observed score, or just above the highest score when no observed score meets the
    budget (then everything is rejected); always finite, so it can be stored in a checkpoint.
    """
    apcer = check_fraction(apcer, "apcer")
    scores, bona_fide, attack_types = _checked(scores, labels, attack_types)
    thresholds, _, feasible = _feasible(scores, bona_fide, attack_types, apcer)
    column = int(np.flatnonzero(feasible)[-1])  # BPCER rises with the threshold: take the lowest
    return float(thresholds[column - 1]) if column > 0 else float(np.nextafter(thresholds[0], np.inf))
