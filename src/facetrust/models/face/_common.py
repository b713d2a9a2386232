"""Shared preprocessing of the face backbones."""

from __future__ import annotations

FACE_PREPROCESS_MEAN = (0.5, 0.5, 0.5)  # (x / 255 - 0.5) / 0.5, the insightface convention
FACE_PREPROCESS_STD = (0.5, 0.5, 0.5)


def face_preprocess(input_size: int) -> dict:
    """The preprocessing of a face backbone: aligned RGB input_size x input_size, (x/255 - 0.5)/0.5."""
    return {"input_size": (3, input_size, input_size), "mean": FACE_PREPROCESS_MEAN, "std": FACE_PREPROCESS_STD}
