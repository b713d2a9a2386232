"""Where a model's claims calibration lives, and the claims model ``facetrust serve --clip`` holds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.claims.calibrate import CALIBRATION_FILE, Calibration


def default_calibration_path(source: str | os.PathLike) -> Path | None:
    """``claims_calibration.json`` in a checkpoint folder, ``<stem>.claims_calibration.json`` beside a
    weights file, None for an open_clip name (pass ``--calibration FILE``)."""
    path = Path(os.path.expanduser(str(source)))
    if path.is_dir():
        return path / CALIBRATION_FILE
    if path.is_file():
        return path.with_name(f"{path.stem}.{CALIBRATION_FILE}")
    return None


def load_calibration(source: str | os.PathLike, explicit: str | os.PathLike | None = None) -> Calibration | None:
    """The calibration given, or the one stored beside the model, or None when there is none."""
    if explicit is not None:
        return Calibration.load(explicit)
    path = default_calibration_path(source)
    return Calibration.load(path) if path is not None and path.is_file() else None


class ServedClaims:
    """``name`` and ``verify(image, claims) -> list[dict]`` for the service (no heatmaps: fast answers)."""

    def __init__(self, verifier: Any, name: str) -> None:
        self.verifier, self.name = verifier, name

    def verify(self, image: np.ndarray, claims: list[str]) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.verifier.verify(image, claims)]


def load_claims_model(source: str | os.PathLike) -> ServedClaims:
    """A CLIP (checkpoint folder, .safetensors or open_clip name) with its stored calibration, if any."""
    from facetrust.claims.model import load_clip
    from facetrust.claims.verify import ClaimVerifier

    model = load_clip(source)
    calibration = load_calibration(source)
    contrast = calibration is None or calibration.score == "contrast"
    return ServedClaims(ClaimVerifier(model, calibration, contrast=contrast), str(source))
