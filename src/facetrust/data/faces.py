"""Face detectors behind one interface, and square face crops with a margin.

A detector is ``detect(image_rgb_uint8) -> list[Box]``, best first, registered in ``DETECTORS``:

* ``cascade`` (default, no download): OpenCV's bundled Haar frontal-face cascade when this OpenCV
  build ships ``CascadeClassifier`` and its data files; otherwise the OpenCV LBP frontal-face cascade
  that scikit-image bundles (``skimage.data.lbp_frontal_face_cascade_filename``), run by
  ``skimage.feature.Cascade``. (opencv-python 5.x dropped ``CascadeClassifier`` from the main module.)
* ``dlib``: dlib's HOG + linear SVM detector (package ``dlib-bin``), when importable.
* ``yunet``: OpenCV's YuNet CNN (``cv2.FaceDetectorYN``) from an ONNX file the user gives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from facetrust.errors import DataError
from facetrust.registry import DETECTORS


@dataclass(frozen=True)
class Box:
    """A face box in pixels: top-left (x, y), width, height, and a detector-specific score."""

    x: float
    y: float
    w: float
    h: float
    score: float = 1.0


class FaceDetector(Protocol):
    def detect(self, image: np.ndarray) -> list[Box]: ...


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / (a.w * a.h + b.w * b.h - inter + 1e-9)


def group_boxes(boxes: list[Box], iou: float = 0.3) -> list[Box]:
    """Merge overlapping raw detections (as OpenCV's minNeighbors grouping): score = hits, box = mean."""
    clusters: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: -b.w * b.h):
        for cluster in clusters:
            if _iou(cluster[0], box) > iou:
                cluster.append(box)
                break
        else:
            clusters.append([box])
    merged = [Box(float(np.mean([b.x for b in c])), float(np.mean([b.y for b in c])),
                  float(np.mean([b.w for b in c])), float(np.mean([b.h for b in c])), float(len(c)))
              for c in clusters]
    return sorted(merged, key=lambda b: (-b.score, -b.w * b.h))


class CascadeDetector:
    """Frontal-face cascade: OpenCV Haar when available, else the LBP cascade bundled by scikit-image."""

    def __init__(self, min_size: float = 0.1, scale_factor: float = 1.15, cascade_file: str | None = None,
                 max_side: int = 320) -> None:
        import cv2

        self.min_size, self.scale_factor, self.max_side = min_size, scale_factor, max_side
        haar_dir = Path(getattr(getattr(cv2, "data", None), "haarcascades", "") or "")
        haar = cascade_file or str(haar_dir / "haarcascade_frontalface_default.xml")
        if hasattr(cv2, "CascadeClassifier") and Path(haar).is_file():
            self.backend, self.cascade = "opencv-haar", cv2.CascadeClassifier(haar)
        else:
            import skimage.data
            from skimage.feature import Cascade

            self.backend = "skimage-lbp"
            self.cascade = Cascade(cascade_file or skimage.data.lbp_frontal_face_cascade_filename())

    def detect(self, image: np.ndarray) -> list[Box]:
        """Faces in an RGB image, most-confirmed first; large images are searched at ``max_side``."""
        import cv2

        ratio = min(1.0, self.max_side / max(image.shape[:2]))
        if ratio < 1.0:
            small = cv2.resize(image, None, fx=ratio, fy=ratio, interpolation=cv2.INTER_AREA)
            return [Box(b.x / ratio, b.y / ratio, b.w / ratio, b.h / ratio, b.score) for b in self.detect_at(small)]
        return self.detect_at(image)

    def detect_at(self, image: np.ndarray) -> list[Box]:
        h, w = image.shape[:2]
        smallest = max(20, int(self.min_size * min(h, w)))
        if self.backend == "opencv-haar":
            import cv2

            gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
            found = self.cascade.detectMultiScale(gray, self.scale_factor, 3, minSize=(smallest, smallest))
            return group_boxes([Box(*map(float, f)) for f in found])
        found = self.cascade.detect_multi_scale(img=image, scale_factor=self.scale_factor, step_ratio=1,
                                                min_size=(smallest, smallest), max_size=(h, w))
        return group_boxes([Box(float(f["c"]), float(f["r"]), float(f["width"]), float(f["height"])) for f in found])


class DlibDetector:
    """dlib's HOG frontal face detector (needs ``pip install dlib-bin``)."""

    def __init__(self, upsample: int = 1) -> None:
        try:
            import dlib
        except ImportError as err:
            raise DataError("face detector 'dlib' needs the dlib package: pip install 'facetrust[dlib]'") from err
        self.detector, self.upsample = dlib.get_frontal_face_detector(), upsample

    def detect(self, image: np.ndarray) -> list[Box]:
        rects, scores, _ = self.detector.run(np.ascontiguousarray(image), self.upsample, 0.0)
        boxes = [Box(r.left(), r.top(), r.width(), r.height(), float(s)) for r, s in zip(rects, scores, strict=True)]
        return sorted(boxes, key=lambda b: -b.score)


class YuNetDetector:
    """OpenCV's YuNet face detector from a user-supplied ONNX file (nothing is downloaded)."""

    def __init__(self, model: str | os.PathLike | None = None, score_threshold: float = 0.6) -> None:
        import cv2

        if model is None or not Path(model).is_file():
            raise DataError(f"face detector 'yunet' needs its ONNX file; got {model!r} (pass --detector-model PATH)")
        self.detector = cv2.FaceDetectorYN.create(str(model), "", (320, 320), score_threshold)

    def detect(self, image: np.ndarray) -> list[Box]:
        import cv2

        self.detector.setInputSize((image.shape[1], image.shape[0]))
        _, faces = self.detector.detect(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        boxes = [] if faces is None else [Box(*map(float, f[:4]), float(f[-1])) for f in faces]
        return sorted(boxes, key=lambda b: -b.score)


DETECTORS.register("cascade")(CascadeDetector)
DETECTORS.register("dlib")(DlibDetector)
DETECTORS.register("yunet")(YuNetDetector)


def create_detector(name: str = "cascade", **kwargs) -> FaceDetector:
    """Build a registered face detector by name (``cascade``, ``dlib``, ``yunet``)."""
    try:
        builder = DETECTORS.get(name)
    except KeyError as err:
        raise DataError(str(err.args[0])) from err
    return builder(**kwargs)


def crop_face(image: np.ndarray, box: Box | None, size: int, margin: float = 0.2) -> np.ndarray:
    """Square crop around ``box`` enlarged by ``margin`` per side, edge-replicated, resized to ``size``.

    ``box=None`` takes the largest centred square (the "centre" no-face policy).
    """
    import cv2

    h, w = image.shape[:2]
    if box is None:
        side = min(h, w)
        cx, cy = w / 2, h / 2
    else:
        side = max(box.w, box.h) * (1 + 2 * margin)
        cx, cy = box.x + box.w / 2, box.y + box.h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(1, int(round(side)))
    pad = max(0, -x0, -y0, x0 + s - w, y0 + s - h)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    crop = image[y0 : y0 + s, x0 : x0 + s]
    interpolation = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation)
