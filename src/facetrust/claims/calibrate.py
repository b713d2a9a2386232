"""Decisions from scores: Platt scaling and two thresholds fitted on labelled validation claims.

``fit_calibration`` takes the raw scores of labelled claims (1 = supported by the image, 0 = not)
from a **validation split** and fits

* Platt scaling (Platt 1999): ``p = sigmoid(a * f + b)`` with ``f = logit(P_contrast)`` for the
  contrast test or ``f = CLIPScore`` without it, so ``p_supported`` is a calibrated probability;
* two thresholds on ``p``: ``upper``, the lowest value whose claims above it are supported with
  precision >= ``target`` (default 0.9), and ``lower``, the highest value whose claims below it are
  unsupported with the same precision. ``p >= upper`` is "supported", ``p <= lower`` "unsupported",
  anything between "uncertain". When the two cross, both become 0.5 (no uncertain band).

The result is stored beside the model (``claims_calibration.json`` in a checkpoint folder) with its
provenance: which split and manifest, how many claims and images, the SHA-256 of every calibration
image and the identity of the model's weights. A calibration is refused for another model, and a
claim about one of its own calibration images gets no decision: thresholds are never fitted on the
claims being judged.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.errors import CheckpointError, DataError

CALIBRATION_FILE = "claims_calibration.json"
FORMAT = "facetrust-claims-calibration"
SCORES = ("contrast", "clip_score")
_EPS = 1e-6


def image_hash(image: np.ndarray) -> str:
    """SHA-256 of an RGB image's shape and pixels (the same image read twice hashes the same)."""
    digest = hashlib.sha256(str(tuple(image.shape)).encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()


def platt_feature(raw: np.ndarray, score: str) -> np.ndarray:
    """The feature Platt scaling is linear in: logit of a contrast probability, or CLIPScore itself."""
    raw = np.asarray(raw, dtype=np.float64)
    if score == "contrast":
        clipped = np.clip(raw, _EPS, 1 - _EPS)
        return np.log(clipped / (1 - clipped))
    if score == "clip_score":
        return raw
    raise ValueError(f"unknown score {score!r}; use one of {SCORES}")


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """ECE with ``bins`` equal-width bins on [0, 1]: sum over bins of (n_b / N) |mean label - mean p|."""
    p, y = np.asarray(probabilities, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if len(p) == 0:
        return float("nan")
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        member = index == b
        if member.any():
            total += member.mean() * abs(y[member].mean() - p[member].mean())
    return float(total)


def _threshold_with_precision(p: np.ndarray, y: np.ndarray, target: float, positive: bool) -> float | None:
    """Lowest t with precision(y == 1 | p >= t) >= target (or highest t for y == 0 | p <= t)."""
    candidates = np.unique(p)
    order = candidates if positive else candidates[::-1]
    for t in order:
        chosen = p >= t if positive else p <= t
        if chosen.sum() and (y[chosen] == (1 if positive else 0)).mean() >= target:
            return float(t)
    return None


@dataclass
class Calibration:
    """Platt scaling + thresholds of one model and one score kind, with where they came from."""

    score: str
    slope: float
    intercept: float
    lower: float
    upper: float
    target_precision: float
    model: str
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def probability(self, raw: np.ndarray | float) -> np.ndarray:
        """Calibrated P(supported) of raw scores of this calibration's kind."""
        z = self.slope * platt_feature(np.atleast_1d(raw), self.score) + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def decide(self, probability: float) -> str:
        """"supported", "unsupported" or "uncertain" for one calibrated probability."""
        if probability >= self.upper:
            return "supported"
        if probability <= self.lower:
            return "unsupported"
        return "uncertain"

    def calibrated_on(self, image_sha256: str) -> bool:
        """True when this image was one of the calibration images."""
        return image_sha256 in set(self.provenance.get("image_sha256", []))

    def check_model(self, identity: str, where: str = "") -> None:
        if identity != self.model:
            raise CheckpointError(
                f"the claims calibration{f' {where}' if where else ''} was fitted for the model {self.model}, not "
                f"for {identity}; calibrate this model again (facetrust verify-claims MODEL --calibrate CLAIMS.csv)"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        if path.is_dir():
            path = path / CALIBRATION_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Calibration:
        path = Path(path)
        if path.is_dir():
            path = path / CALIBRATION_FILE
        if not path.is_file():
            raise CheckpointError(f"no claims calibration at {path}; fit one with --calibrate CLAIMS.csv")
        try:
            data = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CheckpointError(f"{path} is not valid JSON ({err})") from err
        if not isinstance(data, dict) or data.pop("format", None) != FORMAT:
            raise CheckpointError(f"{path} is not a facetrust claims calibration (no format: {FORMAT})")
        try:
            return cls(**data)
        except TypeError as err:
            raise CheckpointError(f"{path}: {err}") from err


def fit_calibration(raw: np.ndarray, labels: np.ndarray, score: str, model: str, image_sha256: list[str],
                    provenance: dict[str, Any] | None = None, target_precision: float = 0.9) -> Calibration:
    """Fit Platt scaling and the two thresholds on labelled calibration claims (module docstring).

    ``raw`` (N,) scores of kind ``score``, ``labels`` (N,) 1 = supported; ``image_sha256`` the hashes of
    the calibration images (stored: claims about them are never judged with this calibration).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    raw, y = np.asarray(raw, dtype=np.float64), np.asarray(labels).astype(int)
    if raw.shape != y.shape or raw.ndim != 1:
        raise DataError(f"calibration needs one score per label; got {raw.shape} scores and {y.shape} labels")
    if set(np.unique(y)) != {0, 1}:
        raise DataError("calibration needs supported (1) and unsupported (0) claims; got labels "
                        f"{sorted(set(y.tolist()))}")
    if not 0.5 <= target_precision < 1:
        raise ValueError(f"target_precision must be in [0.5, 1), got {target_precision}")
    feature = platt_feature(raw, score)[:, None]
    platt = LogisticRegression(C=1e4).fit(feature, y)
    slope, intercept = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    p = 1.0 / (1.0 + np.exp(-(slope * feature[:, 0] + intercept)))
    upper = _threshold_with_precision(p, y, target_precision, positive=True)
    lower = _threshold_with_precision(p, y, target_precision, positive=False)
    upper = 1.0 if upper is None else upper
    lower = 0.0 if lower is None else lower
    if lower >= upper:
        lower = upper = 0.5
    hashes = sorted(set(image_sha256))
    record = {
        **(provenance or {}), "n_claims": int(len(y)), "n_supported": int(y.sum()), "n_images": len(hashes),
        "image_sha256": hashes, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    metrics = {"auc": float(roc_auc_score(y, raw)), "ece_calibrated": expected_calibration_error(p, y)}
    if score == "contrast":  # CLIPScore is not a probability: it has no ECE of its own
        metrics["ece_raw"] = expected_calibration_error(raw, y)
    return Calibration(score, slope, intercept, float(lower), float(upper), target_precision, model, record, metrics)
