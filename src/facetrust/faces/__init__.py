"""Faces: boxes with landmarks, the detectors behind one interface, the crop a model was trained on,
alignment and tracking over frames.

``create_detector(name)`` builds ``mtcnn``, ``blazeface``, ``cascade``, ``dlib`` or ``yunet``; each
``detect(image_rgb_uint8)`` returns ``Box`` es best first. ``DEFAULT_DETECTOR`` is the one predict and
serve use when none is given (chosen by measurement, see docs/data.md "Face detectors"). Large images
are searched on a copy whose longer side is ``DETECT_MAX_SIDE`` pixels (``max_side=`` of each detector),
boxes mapped back to the original's pixels.
"""

from facetrust.faces.detectors import (
    DEFAULT_DETECTOR,
    DETECT_MAX_SIDE,
    Box,
    CascadeDetector,
    DlibDetector,
    FaceDetector,
    YuNetDetector,
    box_iou,
    create_detector,
    detect_downscaled,
    downscaled,
    five_landmarks,
    group_boxes,
)

__all__ = [
    "DEFAULT_DETECTOR",
    "DETECT_MAX_SIDE",
    "Box",
    "CascadeDetector",
    "DlibDetector",
    "FaceDetector",
    "YuNetDetector",
    "box_iou",
    "create_detector",
    "detect_downscaled",
    "downscaled",
    "five_landmarks",
    "group_boxes",
]
