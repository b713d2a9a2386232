"""The crop policy that travels with a model: how a face box becomes the model's input pixels.

A checkpoint's ``config.json`` records it under ``"crop"``::

    {"detector": "mtcnn", "crops": [{"method": "margin", "margin": 0.2, "size": 64}]}
    {"detector": "mtcnn", "crops": [{"method": "scale", "scale": 2.7, "size": [80, 80]},
                                    {"method": "scale", "scale": 4.0, "size": [80, 80]}]}

``crop_for_model(image, box, crop)`` makes one uint8 RGB crop per entry and stacks them on the
channel axis, (H, W, 3k); colour order, value range and normalisation are the model's
``preprocess`` (``facetrust.predictor.preprocess_images``), not the crop's. ``size`` is an int
(square) or ``[height, width]``.

Methods:

* ``margin`` (facetrust's own, what ``prepare-videos`` writes): a square of side max(w, h) *
  (1 + 2 * margin) around the box centre, edge-replicated where it leaves the frame, resized
  (``facetrust.data.faces.crop_face``).
* ``scale`` (Silent-Face-Anti-Spoofing's patches, its ``src/generate_patches.py``): the box scaled
  about its centre by ``scale``, the scale first reduced so the new box fits in the frame
  (min(scale, (H - 1) / h, (W - 1) / w)), the box then shifted back inside the frame, its corners
  truncated to integers, the pixels [x0..x1] x [y0..y1] (both ends included) resized bilinearly. The
  context is never padded: near an edge the crop holds less context than ``scale`` asks for.

``box=None`` means the caller has no box because the picture already is the face region (a
pre-cropped image): ``margin`` takes the largest centred square, ``scale`` resizes the whole picture
(the original code's "org" patches). Finding no face in a photo is the pipeline's business: it reports
"no face" and never calls this with ``None``.

A checkpoint that records no crop gets ``default_crop(preprocess)``: one ``margin`` crop with margin
0.2 at the model's input size (what facetrust trains on), for the detector
``facetrust.faces.DEFAULT_DETECTOR``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from facetrust.errors import ConfigError, DataError

DEFAULT_MARGIN = 0.2
METHODS = ("margin", "scale")


def _size_hw(value: Any, where: str) -> tuple[int, int]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        height, width = value
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        height = width = value
    else:
        raise ConfigError(f"{where}: size must be an int or [height, width], got {value!r}")
    try:
        height, width = int(height), int(width)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: size must be whole numbers, got {value!r}") from err
    if height <= 0 or width <= 0:
        raise ConfigError(f"{where}: size must be positive, got {value!r}")
    return height, width


def validate_crop(crop: Any, where: str = "crop") -> dict[str, Any]:
    """Check a crop config; ``ConfigError`` naming the bad key. Returns it with sizes as [h, w]."""
    if not isinstance(crop, dict) or not isinstance(crop.get("crops"), list) or not crop["crops"]:
        raise ConfigError(f"{where}: expected {{'detector': NAME, 'crops': [{{'method': ...}}, ...]}}, got {crop!r}")
    entries = []
    for i, entry in enumerate(crop["crops"]):
        at = f"{where}.crops[{i}]"
        if not isinstance(entry, dict) or entry.get("method") not in METHODS:
            raise ConfigError(f"{at}: method must be one of {METHODS}, got {entry!r}")
        height, width = _size_hw(entry.get("size"), at)
        if entry["method"] == "margin":
            margin = entry.get("margin", DEFAULT_MARGIN)
            if not isinstance(margin, (int, float)) or margin < 0:
                raise ConfigError(f"{at}: margin must be a number >= 0, got {margin!r}")
            if height != width:
                raise ConfigError(f"{at}: the margin crop is square; size {height}x{width} is not")
            entries.append({**entry, "margin": float(margin), "size": [height, width]})
        else:
            scale = entry.get("scale")
            if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale <= 0:
                raise ConfigError(f"{at}: scale must be a number > 0, got {scale!r}")
            entries.append({**entry, "scale": float(scale), "size": [height, width]})
    return {**crop, "crops": entries}


def default_crop(preprocess: dict[str, Any]) -> dict[str, Any]:
    """The documented crop for a checkpoint that records none: margin 0.2, the model's input size."""
    channels, height, width = (int(v) for v in preprocess["input_size"])
    if channels != 3:
        raise ConfigError(
            f"this model takes {channels} input channels ({channels // 3} stacked crops?) but its config records "
            "no 'crop'; the default crop makes one 3-channel crop. Save the checkpoint with its crop config"
        )
    try:
        from facetrust.faces import DEFAULT_DETECTOR as detector
    except ImportError:
        detector = None
    return {"detector": detector, "crops": [{"method": "margin", "margin": DEFAULT_MARGIN, "size": [height, width]}]}


def scale_box(image_hw: tuple[int, int], box, scale: float) -> tuple[int, int, int, int]:
    """Silent-Face's patch box: inclusive integer corners (x0, y0, x1, y1) inside the frame."""
    src_h, src_w = int(image_hw[0]), int(image_hw[1])
    x, y, w, h = float(box.x), float(box.y), float(box.w), float(box.h)
    if w <= 0 or h <= 0:
        raise DataError(f"face box {[x, y, w, h]} has no area")
    scale = min(scale, (src_h - 1) / h, (src_w - 1) / w)  # the scaled box must fit in the frame
    cx, cy = x + w / 2, y + h / 2
    x0, x1 = cx - w * scale / 2, cx + w * scale / 2
    y0, y1 = cy - h * scale / 2, cy + h * scale / 2
    if x0 < 0:  # shift back inside, keeping the size
        x0, x1 = 0.0, x1 - x0
    if y0 < 0:
        y0, y1 = 0.0, y1 - y0
    if x1 > src_w - 1:
        x0, x1 = x0 - (x1 - src_w + 1), float(src_w - 1)
    if y1 > src_h - 1:
        y0, y1 = y0 - (y1 - src_h + 1), float(src_h - 1)
    return int(x0), int(y0), int(x1), int(y1)  # int() truncates toward zero, as the original does


def crop_scale(image: np.ndarray, box, scale: float, size_hw: tuple[int, int]) -> np.ndarray:
    """One Silent-Face patch (``box=None``: the whole image resized)."""
    import cv2

    height, width = size_hw
    if box is not None:
        x0, y0, x1, y1 = scale_box(image.shape[:2], box, scale)
        image = image[y0 : y1 + 1, x0 : x1 + 1]
    return cv2.resize(image, (width, height))  # bilinear, OpenCV's default, as the original


def crop_margin(image: np.ndarray, box, margin: float, size: int) -> np.ndarray:
    """facetrust's square crop with ``margin`` per side, edge-replicated (``box=None``: centred square)."""
    from facetrust.data.faces import crop_face  # lazy: the detectors module is heavier than this one

    return crop_face(image, box, size, margin)


def crop_for_model(image_rgb: np.ndarray, box, crop: dict[str, Any]) -> np.ndarray:
    """uint8 (H, W, 3k): the crops of ``crop["crops"]`` around ``box``, stacked on the channel axis."""
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise DataError(f"expected an RGB uint8 (H, W, 3) image, got {image_rgb.dtype} {image_rgb.shape}")
    crops = []
    for entry in validate_crop(crop)["crops"]:
        height, width = entry["size"]
        if entry["method"] == "margin":
            crops.append(crop_margin(image_rgb, box, entry["margin"], height))
        else:
            crops.append(crop_scale(image_rgb, box, entry["scale"], (height, width)))
    return crops[0] if len(crops) == 1 else np.concatenate(crops, axis=2)


def checkpoint_crop(config: dict[str, Any], preprocess: dict[str, Any]) -> dict[str, Any]:
    """The crop a checkpoint records (validated) or ``default_crop(preprocess)``; checks it fits the model."""
    recorded = config.get("crop") if isinstance(config, dict) else None
    crop = validate_crop(recorded, "config.json 'crop'") if recorded is not None else default_crop(preprocess)
    channels, height, width = (int(v) for v in preprocess["input_size"])
    if 3 * len(crop["crops"]) != channels:
        raise ConfigError(f"config.json 'crop' makes {len(crop['crops'])} crop(s) = {3 * len(crop['crops'])} "
                          f"channels but the model takes {channels}")
    return crop


def face_images_as_inputs(images: list[np.ndarray], crop: dict[str, Any], channels: int) -> list[np.ndarray]:
    """Pictures that already are face regions (a manifest's crops) -> the images a model takes.

    A 3-channel model takes them as they are (the historical path, resized by preprocessing); a model
    of k stacked crops gets ``crop_for_model(image, None, crop)`` (the ``box=None`` policy), so
    export parity and INT8 calibration can run on the same images. This is not how such a model
    should be scored on photos: detect the face and use ``Predictor.score_faces``.
    """
    if channels == 3:
        return images
    return [crop_for_model(image, None, crop) for image in images]
