"""MTCNN (Zhang et al. 2016, "Joint Face Detection and Alignment using Multi-task Cascaded
Convolutional Networks") through ``facenet-pytorch`` (MIT), whose P/R/O-net weights ship inside its
wheel: nothing is downloaded. This is the detector family FLIP's preprocessing used.

facenet-pytorch's defaults are kept (minimum face 20 px, thresholds 0.6/0.7/0.7, pyramid factor
0.709): with them, on the upright RGB image, ``[int(x1), int(y1), int(x2 - x1 + 1), int(y2 - y1 + 1)]``
of the first box is exactly the box in ``../shared/real/silent-face/reference.json``. Boxes come back
as ``Box(x1, y1, x2 - x1, y2 - y1)`` in floats, highest probability first, with MTCNN's 5 landmarks.

An image whose longer side exceeds ``max_side`` (default ``DETECT_MAX_SIDE`` = 1280 px) is searched on
a copy shrunk to that size, and boxes and landmarks are mapped back with each axis' exact factor: a
12-megapixel photo (4000x3000) would otherwise start MTCNN's pyramid at 2400x1800 (12 / 20 of the
full size), slow and memory-hungry, to look for 20 px faces that mean nothing at that resolution. The
minimum face is then ``min_face_size`` pixels of the shrunk copy (62 px of a 4000x3000 photo).
Images that fit, such as the shared 480x640 photos, are searched unchanged (the reference boxes hold).
"""

from __future__ import annotations

import numpy as np

from facetrust.errors import DataError
from facetrust.faces.detectors import DETECT_MAX_SIDE, Box, detect_downscaled, five_landmarks


class MTCNNDetector:
    """MTCNN face detector (CPU unless ``device`` says otherwise); ``min_score`` drops weak boxes; images
    larger than ``max_side`` pixels (longer side; None: no limit) are searched on a shrunk copy."""

    def __init__(self, min_face_size: int = 20, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
                 factor: float = 0.709, min_score: float = 0.0, device: str = "cpu",
                 max_side: int | None = DETECT_MAX_SIDE) -> None:
        try:
            from facenet_pytorch import MTCNN
        except ImportError as err:
            raise DataError("face detector 'mtcnn' needs facenet-pytorch: pip install 'facenet-pytorch==2.5.3' "
                            "(make install does)") from err
        import torch

        self.min_score, self.min_face_size, self.max_side = min_score, min_face_size, max_side
        self.model = MTCNN(min_face_size=min_face_size, thresholds=list(thresholds), factor=factor,
                           keep_all=True, select_largest=False, device=torch.device(device)).eval()

    def detect(self, image: np.ndarray) -> list[Box]:
        """Faces in an RGB uint8 image (H, W, 3), highest MTCNN probability first, in its pixels."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise DataError(f"mtcnn expects an RGB uint8 image (H, W, 3); got {image.dtype} {image.shape}")
        return detect_downscaled(self.detect_at, image, self.max_side)

    def detect_at(self, image: np.ndarray) -> list[Box]:
        """MTCNN on ``image`` as it is (no size limit)."""
        import torch

        if min(image.shape[:2]) < self.min_face_size:
            return []  # no face of the minimum size fits (and facenet-pytorch fails on an empty pyramid)
        with torch.inference_mode():
            boxes, probs, points = self.model.detect(np.ascontiguousarray(image), landmarks=True)
        if boxes is None or len(boxes) == 0:
            return []
        found = []
        for (x1, y1, x2, y2), prob, marks in zip(np.asarray(boxes.tolist(), dtype=np.float64),
                                                 np.asarray(probs, dtype=np.float64),
                                                 np.asarray(points.tolist(), dtype=np.float64), strict=True):
            if prob >= self.min_score:
                found.append(Box(float(x1), float(y1), float(x2 - x1), float(y2 - y1), float(prob),
                                 five_landmarks(marks)))
        return sorted(found, key=lambda b: -b.score)
