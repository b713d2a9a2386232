"""Input checks shared by the metrics: lists, NumPy arrays or tensors in, validated NumPy arrays out.

Torch is never imported here; a tensor is recognised by its type's module and converted with
``.detach().cpu()``, so the metrics work in environments without PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from facetrust.errors import FacetrustError


class MetricError(FacetrustError, ValueError):
    """Scores, labels or attack types that a metric cannot be computed on."""


def to_numpy(values: Any, name: str) -> np.ndarray:
    """A list, NumPy array or torch tensor as a 1-D NumPy array (tensors are detached, moved to CPU)."""
    if type(values).__module__.split(".")[0] == "torch":
        values = values.detach().cpu()
        if values.dtype.is_floating_point:
            values = values.double()  # bfloat16 has no NumPy equivalent
        values = values.numpy()
    array = np.asarray(values)
    if array.ndim == 0:
        raise MetricError(f"{name} must be a sequence of values, got a single value {array!r}")
    if array.ndim != 1:
        raise MetricError(f"{name} must be 1-D (one value per sample), got shape {array.shape}")
    return array


def check_scores(scores: Any, name: str = "scores") -> np.ndarray:
    """Finite float64 scores; empty, non-numeric, NaN and infinite values are errors."""
    array = to_numpy(scores, name)
    if array.size == 0:
        raise MetricError(f"{name} is empty; a metric needs at least one bona fide and one attack sample")
    if array.dtype.kind not in "biuf":
        raise MetricError(f"{name} must be numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise MetricError(
            f"{name} contains {bad.size} NaN or infinite value(s) (first at index {bad[0]}: "
            f"{array[bad[0]]}); check the model outputs for overflow or missing predictions"
        )
    return array


def check_labels(labels: Any, n: int, name: str = "labels") -> np.ndarray:
    """Labels as a bool array (True = bona fide); values other than 0/1, a length mismatch or a
    missing class are errors."""
    array = to_numpy(labels, name)
    if array.size != n:
        raise MetricError(f"length mismatch: {n} scores but {array.size} {name}")
    if array.dtype.kind not in "biuf":
        raise MetricError(f"{name} must be 0 (attack) or 1 (bona fide), got dtype {array.dtype}")
    bad = np.flatnonzero((array != 0) & (array != 1))
    if bad.size:
        raise MetricError(
            f"{name} must be 0 (attack) or 1 (bona fide); found {array[bad[0]]!r} at index {bad[0]} "
            f"({bad.size} bad value(s))"
        )
    bona_fide = array == 1
    n_bona = int(bona_fide.sum())
    if n_bona == 0 or n_bona == n:
        missing = "bona fide (label 1)" if n_bona == 0 else "attack (label 0)"
        raise MetricError(f"no {missing} samples among {n} {name}; this metric needs both classes")
    return bona_fide


def check_attack_types(attack_types: Any, bona_fide: np.ndarray, name: str = "attack_types") -> np.ndarray:
    """Attack species as a str array; every attack sample needs a species other than 'none'.

    The value on bona fide samples is ignored (it is 'none' in a facetrust manifest).
    """
    array = to_numpy(attack_types, name)
    if array.size != bona_fide.size:
        raise MetricError(f"length mismatch: {bona_fide.size} scores but {array.size} {name}")
    array = array.astype(str)
    unnamed = np.flatnonzero(~bona_fide & np.isin(np.char.lower(array), ["none", "", "nan"]))
    if unnamed.size:
        raise MetricError(
            f"attack sample at index {unnamed[0]} has {name} {str(array[unnamed[0]])!r}; every attack "
            f"(label 0) needs a species such as 'print' or 'replay' ({unnamed.size} such sample(s))"
        )
    return array


def check_fraction(value: float, name: str) -> float:
    """A rate in [0, 1]."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise MetricError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= value <= 1.0:
        raise MetricError(f"{name} must be in [0, 1] (a rate, e.g. 0.01 for 1%), got {value}")
    return value


def check_threshold(value: float) -> float:
    """A decision threshold: any number but NaN."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise MetricError(f"threshold must be a number, got {value!r}") from None
    if np.isnan(value):
        raise MetricError("threshold is NaN; choose one with facetrust.evaluate.choose_threshold")
    return value
