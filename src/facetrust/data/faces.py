"""Square face crops with a margin; the detectors moved to ``facetrust.faces`` and are re-exported here.

``from facetrust.data.faces import Box, create_detector, CascadeDetector, ...`` keeps working;
new code imports them from ``facetrust.faces``.
"""

from __future__ import annotations

import numpy as np

from facetrust.faces.detectors import (  # noqa: F401  (re-exported for old imports)
    DEFAULT_DETECTOR,
    Box,
    CascadeDetector,
    DlibDetector,
    FaceDetector,
    YuNetDetector,
    _iou,
    box_iou,
    create_detector,
    five_landmarks,
    group_boxes,
)


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
