"""The regions a claim is checked on: the whole image, each detected face, each object box.

Faces come from the face pipeline's detector (``facetrust.pipeline.create_detector``); an image whose
shorter side is under ``DETECT_MIN_SIDE`` pixels is upscaled for detection only (detectors miss small
faces) and the boxes are mapped back. Faces whose shorter side is under ``min_face`` pixels are
dropped. Crops are squares around the box with a margin (``crop_face``, edge-replicated), resized to
the CLIP input; the whole image is resized as it is (nothing cut off).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

DETECT_MIN_SIDE = 192
FACE_MARGIN = 0.2
OBJECT_MARGIN = 0.05


@dataclass(frozen=True)
class Region:
    """``kind`` is "image", "face" or "object"; ``box`` (x, y, w, h) in image pixels (None = whole image)."""

    kind: str
    box: tuple[float, float, float, float] | None
    label: str | None = None
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "box": None if self.box is None else [round(float(v), 1) for v in self.box],
                "label": self.label, "detector_score": None if self.score is None else float(self.score)}


def find_faces(detector: Any, image: np.ndarray, min_face: float = 16.0) -> list[Region]:
    """Face regions of ``image`` (largest first), detected on an upscaled copy when the image is small."""
    import cv2

    side = min(image.shape[:2])
    factor = int(np.ceil(DETECT_MIN_SIDE / side)) if side < DETECT_MIN_SIDE else 1
    search = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC) if factor > 1 else image
    regions = []
    for box in detector.detect(search):
        x, y, w, h = (float(v) / factor for v in (box.x, box.y, box.w, box.h))
        if min(w, h) >= min_face:
            regions.append(Region("face", (x, y, w, h), None, float(getattr(box, "score", 1.0))))
    return sorted(regions, key=lambda r: -r.box[2] * r.box[3])


def crop_region(image: np.ndarray, region: Region, size: tuple[int, int]) -> np.ndarray:
    """The region as an RGB uint8 image of the model's input ``size`` (H, W)."""
    import cv2

    from facetrust.data.faces import Box, crop_face

    if region.box is None:
        if image.shape[:2] == tuple(size):
            return image
        interpolation = cv2.INTER_AREA if image.shape[0] > size[0] else cv2.INTER_LINEAR
        return cv2.resize(image, (size[1], size[0]), interpolation=interpolation)
    margin = FACE_MARGIN if region.kind == "face" else OBJECT_MARGIN
    square = crop_face(image, Box(*region.box), max(size), margin=margin)
    return square if tuple(square.shape[:2]) == tuple(size) else cv2.resize(square, (size[1], size[0]))
