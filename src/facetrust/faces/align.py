"""Face alignment for recognition: the 5 landmarks mapped onto the ArcFace template by a similarity.

The template is insightface's standard 112x112 one (``arcface_dst``). Landmarks follow the shared
contract of ``Box.landmarks``: left eye, right eye, nose tip, left mouth corner, right mouth corner,
"left" = the image's left (smaller x). A similarity transform (rotation, uniform scale, translation)
is fitted by least squares (``cv2.estimateAffinePartial2D``) and the image warped with it. Without
landmarks the face is cut around the centre of its box (``crop_face`` with a margin), and without a
box the centred square of the image is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# x, y in a 112x112 crop (insightface, arcface_dst)
ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
BOX_MARGIN = 0.15  # margin per side of the box-centre crop; the template's face spans ~80 of 112 px


def template(size: int = 112) -> np.ndarray:
    """The 5-point template scaled to a ``size`` x ``size`` crop."""
    return ARCFACE_TEMPLATE_112 * (size / 112.0)


def similarity_matrix(landmarks: Any, size: int = 112) -> np.ndarray:
    """(2, 3) similarity transform mapping the 5 ``landmarks`` onto the template at ``size``."""
    import cv2

    points = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        raise ValueError(f"alignment needs 5 finite (x, y) landmarks, got shape {points.shape}")
    matrix, _ = cv2.estimateAffinePartial2D(points, template(size), method=cv2.LMEDS)
    if matrix is None:  # degenerate points (all equal): no transform can be fitted
        raise ValueError("the 5 landmarks are degenerate; no similarity transform maps them to the template")
    return matrix


def align_face(image: np.ndarray, box=None, size: int = 112, landmarks: Any = None) -> np.ndarray:
    """Aligned ``size`` x ``size`` uint8 RGB face: by the landmarks (given, or ``box.landmarks``) when
    there are any, else a square crop about the box centre, else the image's centred square."""
    import cv2

    from facetrust.data.faces import crop_face

    if landmarks is None and box is not None:
        landmarks = getattr(box, "landmarks", None)
    if landmarks is not None:
        matrix = similarity_matrix(landmarks, size)
        return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
    return crop_face(image, box, size, margin=BOX_MARGIN)


def alignment_config(detector: str | None, size: int) -> dict:
    """What a face checkpoint records about its input: detector, method, crop size."""
    return {"detector": detector, "method": "arcface-5point-similarity (box centre without landmarks)",
            "margin": BOX_MARGIN, "size": size}
