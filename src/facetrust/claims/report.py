"""Claim verification results as JSON and as a self-contained HTML page (images embedded as PNG)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.claims.calibrate import Calibration
from facetrust.claims.verify import ClaimResult


def calibration_summary(calibration: Calibration | None) -> dict[str, Any] | None:
    """What the decisions rest on: thresholds, target precision and provenance (without the image hashes)."""
    if calibration is None:
        return None
    provenance = {k: v for k, v in calibration.provenance.items() if k != "image_sha256"}
    return {"score": calibration.score, "lower": calibration.lower, "upper": calibration.upper,
            "target_precision": calibration.target_precision, "provenance": provenance,
            "metrics": calibration.metrics}


def results_json(results: list[ClaimResult], image: str, model: str, calibration: Calibration | None,
                 warnings: list[str] | None = None) -> dict[str, Any]:
    """``{"claims": [...], "image", "model", "calibration", "warnings"}``: one entry per claim, in order."""
    return {"claims": [r.to_dict() for r in results], "image": image, "model": model,
            "calibration": calibration_summary(calibration), "warnings": list(warnings or [])}


def _png(image: np.ndarray) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode a PNG")
    return data.tobytes()


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def write_html(path: str | os.PathLike, image: np.ndarray, results: list[ClaimResult], source: str, model: str,
               calibration: Calibration | None, warnings: list[str] | None = None) -> Path:
    """One page: the image, a table of claims, each claim's heatmap with faithfulness, the calibration."""
    import cv2

    from facetrust.demo.html import Section, render
    from facetrust.explain.overlay import overlay

    summary = Section("claims", "Claims")
    summary.image(_png(image), source)
    summary.table([{"#": i + 1, "claim": r.text, "decision": r.decision or f"none ({r.error or r.reason})",
                    "p_supported": _fmt(r.p_supported), "CLIPScore": _fmt(r.clip_score), "region": (r.region or {}).get("kind", ""),
                    "scope": r.scope} for i, r in enumerate(results)],
                  "p_supported: calibrated probability that the image supports the claim; CLIPScore = 2.5 max(cos, 0)")
    for note in warnings or []:
        summary.text(note, cls="note")
    sections = [summary]
    maps = [r for r in results if r.heatmap is not None]
    if maps:
        heat = Section("heatmaps", "Where CLIP finds each claim")
        heat.text("Gradient-weighted attention relevance (Chefer et al. 2021) of the similarity between the claim's "
                  "best region and 'A photo depicts <claim>'. Faithfulness: deletion AUC (lower is better) and "
                  "insertion AUC (higher is better) of that similarity, against a random map of the same region.")
        for r in maps:
            region = r.region_image
            big = cv2.resize(region, (192, 192), interpolation=cv2.INTER_NEAREST)
            tile = np.concatenate([big, overlay(big, cv2.resize(r.heatmap, (192, 192)))], axis=1)
            f = r.faithfulness or {}
            heat.image(_png(tile), f"{r.text} — {r.decision or 'no decision'}; deletion {_fmt(f.get('deletion_auc'))} "
                                   f"(random {_fmt(f.get('random_deletion_auc'))}), insertion "
                                   f"{_fmt(f.get('insertion_auc'))} (random {_fmt(f.get('random_insertion_auc'))})")
        sections.append(heat)
    about = Section("calibration", "What the decisions rest on")
    summary_record = calibration_summary(calibration)
    if summary_record is None:
        about.text("No claims calibration is stored for this model, so no claim is decided; p_supported is the raw "
                   "contrast probability. Fit one on labelled validation claims: facetrust verify-claims MODEL "
                   "--calibrate CLAIMS.csv", cls="note")
    else:
        about.text(f"Model {model}. Thresholds fitted on {summary_record['provenance'].get('n_claims')} labelled "
                   f"claims of {summary_record['provenance'].get('n_images')} images "
                   f"(split: {summary_record['provenance'].get('split', 'unknown')}), never on the claims judged here.")
        about.table([{"score": summary_record["score"], "unsupported if p <=": _fmt(calibration.lower),
                      "supported if p >=": _fmt(calibration.upper), "target precision": calibration.target_precision,
                      **{k: _fmt(v) for k, v in calibration.metrics.items()}}])
    sections.append(about)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render("facetrust claim verification", f"{source} — {model}", sections))
    return path
