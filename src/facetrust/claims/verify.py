"""Verify claims about one image: regions -> CLIPScore and contrast per region -> calibrated decision.

For each claim:

1. its **scope** (``contrast.claim_scope``, or the caller's): a face claim is scored on every detected
   face (face pipeline detector; no face = a clear "no face" result, never a whole-image score); an
   image claim on the whole image and on each object box whose label the claim names (object
   detector plug-in);
2. per region, CLIPScore of "A photo depicts <claim>" and, with contrast, P(supported) against the
   claim's alternatives (``contrast.alternatives`` or the user's contrast set);
3. the claim's score is its best region's; the stored calibration turns it into ``p_supported`` and a
   decision. Without a calibration, or for an image the calibration was fitted on, there is no
   decision (``null`` with the reason).
4. optionally a clip-relevance heatmap of the claim on its best region, with deletion/insertion
   faithfulness against a random map.

One bad claim (empty, about a face that is not there) gets its own error and the others go on.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from facetrust.claims.calibrate import Calibration, image_hash
from facetrust.claims.contrast import SCOPES, alternatives, claim_scope
from facetrust.claims.model import ClipModel
from facetrust.claims.regions import Region, crop_region, find_faces
from facetrust.claims.score import clip_score, contrast_probability, with_prefix
from facetrust.claims.split import fit_to_context


@dataclass
class Claim:
    """A claim to verify, with an optional contrast set of its own and a scope (auto, image, face)."""

    text: str
    contrast: list[str] | None = None
    scope: str = "auto"


@dataclass
class ClaimResult:
    text: str
    index: int  # position of the claim it came from in the caller's list
    scope: str
    clip_score: float | None = None
    p_supported: float | None = None
    decision: str | None = None
    raw_score: float | None = None
    calibrated: bool = False
    region: dict[str, Any] | None = None
    regions: list[dict[str, Any]] = field(default_factory=list)
    alternatives: list[str] = field(default_factory=list)
    reason: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    faithfulness: dict[str, float] | None = None
    heatmap: np.ndarray | None = None  # (H, W) in [0, 1] on the best region's model input
    region_image: np.ndarray | None = None  # the best region's crop (RGB uint8), for reports

    def to_dict(self) -> dict[str, Any]:
        keys = ("text", "clip_score", "p_supported", "decision", "scope", "raw_score", "calibrated", "region",
                "regions", "alternatives", "reason", "error", "warnings", "faithfulness", "index")
        return {k: getattr(self, k) for k in keys}


def region_scores(region_embeddings: torch.Tensor, claim_embedding: torch.Tensor,
                  alternative_embeddings: torch.Tensor | None, logit_scale: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Per region: CLIPScore (R,) and, with alternatives, the contrast P(supported) (R,)."""
    scores = clip_score(region_embeddings, claim_embedding)[:, 0]
    if alternative_embeddings is None or len(alternative_embeddings) == 0:
        return scores, None
    p = np.array([contrast_probability(r, claim_embedding, alternative_embeddings, logit_scale)
                  for r in region_embeddings])
    return scores, p


class ClaimVerifier:
    """Scores claims about images with one CLIP; see the module docstring."""

    def __init__(self, model: ClipModel, calibration: Calibration | None = None, face_detector: Any = "default",
                 object_detector: Any = None, contrast: bool = True, attributes: dict | None = None,
                 min_face: float = 16.0) -> None:
        if calibration is not None:
            calibration.check_model(model.identity)
            wanted = "contrast" if contrast else "clip_score"
            if calibration.score != wanted:
                raise ValueError(f"the calibration is for {calibration.score!r} scores but the verifier uses "
                                 f"{wanted!r} ({'with' if contrast else 'without'} contrast prompts)")
        self.model, self.calibration, self.contrast = model, calibration, contrast
        self._face_detector, self.object_detector = face_detector, object_detector
        self.attributes, self.min_face = attributes, min_face

    @property
    def face_detector(self) -> Any:
        if isinstance(self._face_detector, str):
            from facetrust.pipeline import create_detector

            self._face_detector = create_detector(None if self._face_detector == "default" else self._face_detector)
        return self._face_detector

    def _claims(self, claims: list[str | Claim]) -> list[tuple[int, Claim, list[str]]]:
        """(index, claim, warnings) with long claims fitted to the text tower's context."""
        out = []
        for index, claim in enumerate(claims):
            claim = claim if isinstance(claim, Claim) else Claim(str(claim))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                pieces = fit_to_context([claim.text.strip()], lambda t: self.model.count_tokens(with_prefix(t)),
                                        self.model.context_length) if claim.text.strip() else [""]
            notes = [str(w.message) for w in caught]
            for note in notes:
                warnings.warn(note, UserWarning, stacklevel=3)
            out += [(index, Claim(p, claim.contrast, claim.scope), notes) for p in pieces]
        return out

    def verify(self, image: np.ndarray, claims: list[str | Claim], scope: str = "auto",
               contrast_set: list[str] | None = None, heatmaps: bool = False, faithfulness_steps: int = 8,
               source: str = "image") -> list[ClaimResult]:
        """One ``ClaimResult`` per (fitted) claim, in order; ``source`` names the image in messages."""
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        items = self._claims(claims)
        scopes = []
        for _, claim, _ in items:
            chosen = claim.scope if claim.scope != "auto" else scope
            scopes.append(claim_scope(claim.text, self.attributes) if chosen == "auto" else chosen)
        regions = [Region("image", None)]
        wants_faces = any(s == "face" for (_, c, _), s in zip(items, scopes, strict=True) if c.text)
        if wants_faces and self._face_detector is not None:
            regions += find_faces(self.face_detector, image, self.min_face)
        if self.object_detector is not None:
            regions += list(self.object_detector.detect(image))
        crops = [crop_region(image, r, self.model.input_size) for r in regions]
        region_embeddings = self.model.encode_images(crops)
        sha = image_hash(image) if self.calibration is not None else None
        results = []
        for (index, claim, notes), claim_scope_ in zip(items, scopes, strict=True):
            result = ClaimResult(claim.text, index, claim_scope_, warnings=list(notes))
            if not claim.text:
                result.error = "empty claim: give a sentence about the image"
                results.append(result)
                continue
            candidates = self._candidates(regions, claim.text, claim_scope_)
            if not candidates:
                found = "no face was found" if self._face_detector is not None else "no face detector is set"
                result.error = (f"the claim {claim.text!r} is about a face, but {found} in {source} "
                                "(use --region image to score it on the whole image)")
                results.append(result)
                continue
            self._score(result, claim, contrast_set, regions, candidates, region_embeddings)
            self._decide(result, sha, source)
            if heatmaps:
                self._explain(result, crops[result.region["index"]], faithfulness_steps)
            results.append(result)
        return results

    def _candidates(self, regions: list[Region], text: str, scope: str) -> list[int]:
        if scope == "face":
            return [i for i, r in enumerate(regions) if r.kind == "face"]
        named = [i for i, r in enumerate(regions) if r.kind == "object" and r.label and r.label.lower() in text.lower()]
        return [0, *named]

    def _score(self, result: ClaimResult, claim: Claim, contrast_set: list[str] | None, regions: list[Region],
               candidates: list[int], region_embeddings: torch.Tensor) -> None:
        if self.contrast:
            result.alternatives = list(claim.contrast or contrast_set or alternatives(claim.text, self.attributes))
        texts = [with_prefix(t) for t in [claim.text, *result.alternatives]]
        text_embeddings = self.model.encode_texts(texts)
        alt = text_embeddings[1:] if self.contrast else None
        scores, p = region_scores(region_embeddings, text_embeddings[0], alt, self.model.logit_scale)
        raw = p if p is not None else scores
        for i, region in enumerate(regions):
            entry = {"index": i, **region.to_dict(), "clip_score": float(scores[i])}
            if p is not None:
                entry["p_contrast"] = float(p[i])
            if i in candidates:
                result.regions.append(entry)
        best = max(candidates, key=lambda i: raw[i])
        result.region = next(r for r in result.regions if r["index"] == best)
        result.clip_score, result.raw_score = float(scores[best]), float(raw[best])
        result.p_supported = float(p[best]) if p is not None else None

    def _decide(self, result: ClaimResult, sha: str | None, source: str) -> None:
        if self.calibration is None:
            result.reason = "no claims calibration for this model: p_supported is the raw contrast probability"
            return
        if self.calibration.calibrated_on(sha):
            result.p_supported = None
            result.reason = (f"{source} is one of the images the thresholds were calibrated on; a claim about it "
                             "cannot be judged honestly with this calibration")
            return
        result.p_supported = float(self.calibration.probability(result.raw_score)[0])
        result.decision = self.calibration.decide(result.p_supported)
        result.calibrated = True

    def _explain(self, result: ClaimResult, crop: np.ndarray, steps: int) -> None:
        from facetrust.claims.relevance import claim_heatmap

        result.region_image = crop
        result.heatmap, result.faithfulness = claim_heatmap(self.model, crop, with_prefix(result.text), steps)
