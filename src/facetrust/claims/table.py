"""Labelled claims for calibration: a CSV with ``path, claim, label`` (optional ``scope``), scored per image.

``label`` is 1 / 0 or supported / unsupported (true / false, yes / no). Paths are relative to the
CSV's folder. A row whose image cannot be read, or whose claim cannot be scored (a face claim on a
face-less image), is skipped and recorded; the others go on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facetrust.errors import DataError

LABELS = {"1": 1, "0": 0, "supported": 1, "unsupported": 0, "true": 1, "false": 0, "yes": 1, "no": 0}


def read_labelled_claims(path: str | os.PathLike) -> pd.DataFrame:
    """The table with ``abs_path`` and integer ``label``; ``DataError`` naming the row for a bad label."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"labelled claims {path} not found (a CSV with columns path, claim, label)")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("path", "claim", "label") if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; labelled claims need path, claim, label")
    labels = []
    for row, value in enumerate(table["label"], start=2):
        key = value.strip().lower()
        if key not in LABELS:
            raise DataError(f"{path}, row {row}: label {value!r} is not one of {sorted(LABELS)}")
        labels.append(LABELS[key])
    table["label"] = labels
    table["abs_path"] = [str(path.parent / p) for p in table["path"]]
    if "scope" not in table.columns:
        table["scope"] = "auto"
    return table


def score_labelled(verifier: Any, table: pd.DataFrame, scope: str = "auto") -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Raw scores, labels, calibration image hashes and skipped rows (as messages) of a labelled table."""
    from facetrust.claims.calibrate import image_hash
    from facetrust.claims.verify import Claim
    from facetrust.data import read_image

    raw, labels, hashes, skipped = [], [], [], []
    for path, group in table.groupby("abs_path", sort=False):
        try:
            image = read_image(path)
        except DataError as err:
            skipped.append(f"{len(group)} claim(s): {err}")
            continue
        claims = [Claim(text, scope=s if s else "auto") for text, s in zip(group["claim"], group["scope"], strict=True)]
        results = verifier.verify(image, claims, scope, source=str(path))
        used = False
        for result in results:
            if result.raw_score is None:
                skipped.append(f"{path}: {result.text!r}: {result.error or result.reason}")
                continue
            raw.append(result.raw_score)
            labels.append(int(group["label"].iloc[result.index]))
            used = True
        if used:
            hashes.append(image_hash(image))
    if not raw:
        raise DataError("no labelled claim could be scored; see the skipped rows")
    return np.asarray(raw), np.asarray(labels), hashes, skipped
