"""The per-image pipeline: upright image -> faces -> the checkpoint's crop -> scores -> decisions.

``analyze_image(predictor, image_rgb)`` is the one path every entry point uses (``predict``, the
camera and video tracker, ``explain``, the service, the pipeline benchmark):

1. faces come from ``detector.detect`` (or the caller's ``boxes``), sorted largest first; without a
   detector, the one the checkpoint's crops were made with (``detector_name_for``);
2. a face whose shorter side is under ``min_face`` pixels (default ``MIN_FACE`` = 24) is reported as
   too small and not scored: below that the crop is mostly upsampling and no model here was trained
   on such faces;
3. every other face is cropped as the checkpoint was trained (``Predictor.score_faces``, which applies
   the ``"crop"`` recorded in ``config.json`` or the documented default) and scored, P(bona fide);
4. the decision is ``score >= threshold`` with the stored (or given) threshold, ``None`` without one.

No face gives an empty list, never a whole-image score. ``StageTimes`` accumulates milliseconds per
stage (decode, detect, crop+classify) for the service and the benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facetrust.errors import DataError

MIN_FACE = 24  # pixels, shorter side of the detected box
TOO_SMALL = "too small"


def default_detector_name() -> str:
    """``facetrust.faces.DEFAULT_DETECTOR`` when that package provides it, else ``cascade``."""
    try:
        from facetrust.faces import DEFAULT_DETECTOR
    except ImportError:
        return "cascade"
    return str(DEFAULT_DETECTOR)


def detector_name_for(predictor, name: str | None = None) -> str:
    """The detector to find faces for ``predictor``: ``name`` when given, else the one its training crops
    were made with (``config.json`` "crop"."detector"), else ``default_detector_name()``."""
    if name:
        return name
    recorded = (getattr(predictor, "config", None) or {}).get("crop") or {}
    return str(recorded.get("detector") or default_detector_name())


def create_detector(name: str | None = None, **kwargs):
    """A face detector by name (default: ``default_detector_name()``), from ``facetrust.faces`` when present."""
    try:
        from facetrust.faces import create_detector as create
    except ImportError:
        from facetrust.data.faces import create_detector as create
    return create(name or default_detector_name(), **kwargs)


def decision_label(task: str | None, accepted: bool) -> str:
    """Display label of a decision for the checkpoint's task ("live"/"spoof" for fas)."""
    try:
        from facetrust.tasks.names import decision_label as label
    except ImportError:
        return "live" if accepted else "spoof"
    return label(task or "fas", accepted)


@dataclass
class StageTimes:
    """Milliseconds spent per stage, summed over calls; ``frames`` counts the images processed.

    ``detect`` includes following boxes between detections (``FaceTracker``); ``classify`` is the
    crop, the model and the decision of every face."""

    decode_ms: float = 0.0
    detect_ms: float = 0.0
    classify_ms: float = 0.0
    frames: int = 0

    def add(self, stage: str, started: float) -> None:
        setattr(self, f"{stage}_ms", getattr(self, f"{stage}_ms") + 1000.0 * (time.perf_counter() - started))

    def per_frame(self) -> dict[str, float]:
        n = max(1, self.frames)
        stages = {"decode_ms": self.decode_ms / n, "detect_ms": self.detect_ms / n,
                  "crop_classify_ms": self.classify_ms / n}
        return {**stages, "total_ms": sum(stages.values())}


@dataclass
class FaceResult:
    """One face of one image: its box (upright image pixels), score P(bona fide) and decision.

    ``score`` and ``decision`` are ``None`` for a face too small to score (``label == "too small"``);
    ``decision`` is ``None`` when no threshold is known.
    """

    box: Any
    score: float | None
    decision: bool | None
    label: str
    threshold: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def too_small(self) -> bool:
        return self.label == TOO_SMALL

    def to_dict(self) -> dict[str, Any]:
        landmarks = getattr(self.box, "landmarks", None)
        return {
            "box": [round(float(v), 2) for v in (self.box.x, self.box.y, self.box.w, self.box.h)],
            "detector_score": float(self.box.score),
            "landmarks": None if landmarks is None else [[round(float(x), 2), round(float(y), 2)] for x, y in landmarks],
            "score": None if self.score is None else float(self.score),
            "decision": self.label if (self.decision is not None or self.too_small) else None,
            "threshold": self.threshold,
            **self.extra,
        }


def box_area(box) -> float:
    return float(box.w) * float(box.h)


def check_box_inside(box, image_shape: Sequence[int], source: str = "image") -> None:
    """DataError unless ``box`` has a positive size and lies inside the image (a user-given box)."""
    h, w = image_shape[:2]
    if box.w <= 0 or box.h <= 0:
        raise DataError(f"{source}: box {box_list(box)} has no area (width and height must be > 0)")
    if box.x < 0 or box.y < 0 or box.x + box.w > w or box.y + box.h > h:
        raise DataError(f"{source}: box {box_list(box)} (x, y, w, h) lies outside the {w}x{h} image; "
                        f"it must fit in x 0..{w}, y 0..{h} of the upright image")


def box_list(box) -> list[float]:
    return [float(box.x), float(box.y), float(box.w), float(box.h)]


def score_boxes(predictor, image: np.ndarray, boxes: list) -> np.ndarray:
    """P(bona fide) per box, cropped with the checkpoint's crop (``Predictor.score_faces``)."""
    if not boxes:
        return np.empty(0, dtype=np.float64)
    return np.asarray(predictor.score_faces(image, list(boxes)), dtype=np.float64)


def analyze_image(
    predictor,
    image_rgb: np.ndarray,
    detector=None,
    boxes: list | None = None,
    min_face: float = MIN_FACE,
    threshold: float | None = None,
    timings: StageTimes | None = None,
) -> list[FaceResult]:
    """Every face of an upright RGB uint8 image, largest first, scored and decided (empty = no face).

    ``boxes`` skips detection; otherwise ``detector`` (default: the checkpoint's, ``detector_name_for``) finds
    the faces.
    ``threshold`` overrides the predictor's stored one.
    """
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise DataError(f"expected an RGB uint8 (H, W, 3) image, got {image_rgb.dtype} {image_rgb.shape}")
    timings = timings if timings is not None else StageTimes()
    timings.frames += 1
    if boxes is None:
        started = time.perf_counter()
        detector = detector if detector is not None else create_detector(detector_name_for(predictor))
        boxes = list(detector.detect(image_rgb))
        timings.add("detect", started)
    ordered = sorted(boxes, key=box_area, reverse=True)
    usable = [i for i, b in enumerate(ordered) if min(b.w, b.h) >= min_face]
    started = time.perf_counter()
    scored = score_boxes(predictor, image_rgb, [ordered[i] for i in usable])
    scores = dict(zip(usable, scored, strict=True))
    timings.add("classify", started)
    threshold = predictor.threshold if threshold is None else threshold
    task = getattr(predictor, "config", {}).get("task")
    results = []
    for i, box in enumerate(ordered):
        if i not in scores:
            results.append(FaceResult(box, None, None, TOO_SMALL, threshold))
            continue
        score = float(scores[i])
        decision = None if threshold is None else bool(score >= threshold)
        label = decision_label(task, decision) if decision is not None else "undecided"
        results.append(FaceResult(box, score, decision, label, threshold))
    return results


def analyze_crop(predictor, crop_rgb: np.ndarray, threshold: float | None = None) -> FaceResult:
    """A ready face crop (an image of a prepared manifest) scored whole; its box is the whole image.

    For inputs that already are what the model was trained on; a camera frame or a photo goes
    through ``analyze_image`` instead.
    """
    try:
        from facetrust.faces import Box
    except ImportError:
        from facetrust.data.faces import Box
    threshold = predictor.threshold if threshold is None else threshold
    score = float(predictor.scores([crop_rgb])[0])
    decision = None if threshold is None else bool(score >= threshold)
    label = "undecided" if decision is None else decision_label(getattr(predictor, "config", {}).get("task"), decision)
    h, w = crop_rgb.shape[:2]
    return FaceResult(Box(0.0, 0.0, float(w), float(h), 1.0), score, decision, label, threshold)
