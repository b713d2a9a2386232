"""Face boxes and the detectors behind one interface.

A detector is ``detect(image_rgb_uint8) -> list[Box]``, best first, registered in ``DETECTORS`` and
built by ``create_detector(name, **kw)``:

* ``mtcnn``: MTCNN (Zhang et al. 2016, "Joint Face Detection and Alignment using Multi-task Cascaded
  Convolutional Networks") through ``facenet-pytorch``, whose weights ship in its wheel; 5 landmarks.
  See ``facetrust.faces.mtcnn``.
* ``blazeface``: MediaPipe's BlazeFace short-range model (Bazarevsky et al. 2019) run by OpenCV's
  TFLite importer; 6 keypoints mapped to the 5 landmarks. See ``facetrust.faces.blazeface``.
* ``cascade``: OpenCV's Haar frontal-face cascade when this OpenCV build ships ``CascadeClassifier``
  and its data files; otherwise the OpenCV LBP frontal-face cascade that scikit-image bundles, run by
  ``skimage.feature.Cascade`` (opencv-python 5.x dropped ``CascadeClassifier``). No landmarks.
* ``dlib``: dlib's HOG + linear SVM detector (package ``dlib-bin``), when importable. No landmarks.
* ``yunet``: OpenCV's YuNet CNN (``cv2.FaceDetectorYN``) from an ONNX file the user gives; 5 landmarks.

Landmarks follow the ArcFace/insightface 5-point order: left eye, right eye, nose tip, left mouth
corner, right mouth corner, in image pixels, "left" meaning the image's left (smaller x).

Large images are searched on a copy shrunk so its longer side is at most ``max_side`` pixels (a
constructor option: ``DETECT_MAX_SIDE`` = 1280 for mtcnn, dlib and yunet, 320 for the cascade; None
searches the full image), and the boxes and landmarks are mapped back to the original pixels with the
exact scale factor of each axis (``downscaled``, ``Box.rescaled``). An image that fits is searched as
it is. BlazeFace needs no limit: it shrinks every image to 128 x 128 itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from facetrust.errors import DataError
from facetrust.registry import DETECTORS

# Chosen by measurement (benchmarks/detectors.py; docs/data.md "Face detectors"): MTCNN finds at least
# every face BlazeFace finds (real photos, fas-sim live and attack frames) and faces down to 24 px wide
# in a 640x480 frame, where BlazeFace short range needs about 80 px; BlazeFace is 30-40x faster, the
# choice for a camera the user faces from close (``--detector blazeface``).
DEFAULT_DETECTOR = "mtcnn"

# Longer side, in pixels, of the copy a large image is searched on (mtcnn, dlib, yunet). A 12-megapixel
# phone photo (4000x3000) is searched at 1280x960: a face of a tenth of the photo's height is still
# 96 px there, and MTCNN's 20 px minimum face means about 62 px of the original.
DETECT_MAX_SIDE = 1280

Point = tuple[float, float]


@dataclass(frozen=True)
class Box:
    """A face box in pixels: top-left (x, y), width, height, a detector score, optional 5 landmarks."""

    x: float
    y: float
    w: float
    h: float
    score: float = 1.0
    landmarks: tuple[Point, ...] | None = None

    @property
    def area(self) -> float:
        return self.w * self.h

    def scaled(self, factor: float) -> Box:
        """The same box (and landmarks) in an image resized by ``factor``."""
        return self.rescaled(factor, factor)

    def rescaled(self, sx: float, sy: float) -> Box:
        """The same box (and landmarks) with x multiplied by ``sx`` and y by ``sy``: from a resized image
        back to the original, ``sx = original width / resized width`` (and ``sy`` for the heights)."""
        points = None if self.landmarks is None else tuple((x * sx, y * sy) for x, y in self.landmarks)
        return replace(self, x=self.x * sx, y=self.y * sy, w=self.w * sx, h=self.h * sy, landmarks=points)


def downscaled(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float, float]:
    """``image`` shrunk (area interpolation) so its longer side is at most ``max_side``, and the factors
    (sx, sy) that map its pixels back: original width / shrunk width, original height / shrunk height.

    The image itself and (1, 1) when it already fits or ``max_side`` is None or 0. The shrunk size is
    rounded per axis and given to ``cv2.resize`` as the output size, so sx and sy are the exact
    factors of that resize (they differ slightly when the aspect ratio cannot be kept exactly).
    """
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return image, 1.0, 1.0
    import cv2

    ratio = max_side / max(h, w)
    size = (max(1, min(max_side, round(w * ratio))), max(1, min(max_side, round(h * ratio))))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, w / size[0], h / size[1]


def detect_downscaled(detect, image: np.ndarray, max_side: int | None) -> list[Box]:
    """``detect(image)`` run on ``downscaled(image, max_side)``, its boxes in the original's pixels."""
    small, sx, sy = downscaled(image, max_side)
    boxes = detect(small)
    if small is image:
        return list(boxes)
    return [b.rescaled(sx, sy) for b in boxes]


class FaceDetector(Protocol):
    def detect(self, image: np.ndarray) -> list[Box]: ...


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / (a.w * a.h + b.w * b.h - inter + 1e-9)


_iou = box_iou  # the old private name


def five_landmarks(points) -> tuple[Point, ...]:
    """5 (x, y) points in contract order: each left/right pair (eyes, mouth corners) sorted by x."""
    p = [(float(x), float(y)) for x, y in np.asarray(points, dtype=np.float64).reshape(5, 2)]
    eyes = sorted(p[0:2])
    mouth = sorted(p[3:5])
    return (eyes[0], eyes[1], p[2], mouth[0], mouth[1])


def group_boxes(boxes: list[Box], iou: float = 0.3) -> list[Box]:
    """Merge overlapping raw detections (as OpenCV's minNeighbors grouping): score = hits, box = mean."""
    clusters: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: -b.w * b.h):
        for cluster in clusters:
            if box_iou(cluster[0], box) > iou:
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
        return detect_downscaled(self.detect_at, image, self.max_side)

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
    """dlib's HOG frontal face detector (needs ``pip install dlib-bin``); large images searched at ``max_side``."""

    def __init__(self, upsample: int = 1, max_side: int | None = DETECT_MAX_SIDE) -> None:
        try:
            import dlib
        except ImportError as err:
            raise DataError("face detector 'dlib' needs the dlib package: pip install 'facetrust[dlib]'") from err
        self.detector, self.upsample, self.max_side = dlib.get_frontal_face_detector(), upsample, max_side

    def detect(self, image: np.ndarray) -> list[Box]:
        return detect_downscaled(self.detect_at, image, self.max_side)

    def detect_at(self, image: np.ndarray) -> list[Box]:
        rects, scores, _ = self.detector.run(np.ascontiguousarray(image), self.upsample, 0.0)
        boxes = [Box(r.left(), r.top(), r.width(), r.height(), float(s)) for r, s in zip(rects, scores, strict=True)]
        return sorted(boxes, key=lambda b: -b.score)


class YuNetDetector:
    """OpenCV's YuNet face detector from a user-supplied ONNX file (nothing is downloaded); large images
    are searched at ``max_side``."""

    def __init__(self, model: str | os.PathLike | None = None, score_threshold: float = 0.6,
                 max_side: int | None = DETECT_MAX_SIDE) -> None:
        import cv2

        if model is None or not Path(model).is_file():
            raise DataError(f"face detector 'yunet' needs its ONNX file; got {model!r} (pass --detector-model PATH)")
        self.detector = cv2.FaceDetectorYN.create(str(model), "", (320, 320), score_threshold)
        self.max_side = max_side

    def detect(self, image: np.ndarray) -> list[Box]:
        return detect_downscaled(self.detect_at, image, self.max_side)

    def detect_at(self, image: np.ndarray) -> list[Box]:
        import cv2

        self.detector.setInputSize((image.shape[1], image.shape[0]))
        _, faces = self.detector.detect(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        # each row: x, y, w, h, 5 landmarks (right eye, left eye, nose, right and left mouth corner), score
        boxes = [] if faces is None else [Box(*map(float, f[:4]), float(f[-1]), five_landmarks(f[4:14]))
                                          for f in faces]
        return sorted(boxes, key=lambda b: -b.score)


def _mtcnn(**kwargs) -> FaceDetector:
    from facetrust.faces.mtcnn import MTCNNDetector

    return MTCNNDetector(**kwargs)


def _blazeface(**kwargs) -> FaceDetector:
    from facetrust.faces.blazeface import BlazeFaceDetector

    return BlazeFaceDetector(**kwargs)


DETECTORS.register("mtcnn")(_mtcnn)
DETECTORS.register("blazeface")(_blazeface)
DETECTORS.register("cascade")(CascadeDetector)
DETECTORS.register("dlib")(DlibDetector)
DETECTORS.register("yunet")(YuNetDetector)


def create_detector(name: str | None = None, **kwargs) -> FaceDetector:
    """Build a registered face detector by name (``DEFAULT_DETECTOR`` when None): mtcnn, blazeface,
    cascade, dlib, yunet."""
    try:
        builder = DETECTORS.get(name or DEFAULT_DETECTOR)
    except KeyError as err:
        raise DataError(str(err.args[0])) from err
    return builder(**kwargs)
