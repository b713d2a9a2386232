"""Predictors: a checkpoint folder loaded for inference, with its preprocessing and threshold.

``facetrust.load(path)`` returns a ``TorchPredictor`` for a checkpoint folder (``model.safetensors``)
and an ONNX predictor for an exported folder (``model.onnx``), so a deployed model needs no PyTorch.
Both take RGB uint8 face crops (H, W, 3), resize and normalise them as the model was trained, and
return logits in the order [attack, bona fide], scores = P(bona fide) and live/spoof decisions
(``score >= threshold``); ``score_faces(image, boxes)`` crops the faces of a whole picture first, as
the checkpoint's ``"crop"`` config says (``facetrust.faces.crop``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.errors import ConfigError, DataError

CHANNEL_ORDERS = ("rgb", "bgr")


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize (H, W, 3k) per 3-channel group (OpenCV's area filter takes at most 4 channels)."""
    import cv2

    interpolation = cv2.INTER_AREA if image.shape[0] > height else cv2.INTER_LINEAR
    groups = [cv2.resize(np.ascontiguousarray(image[..., c : c + 3]), (width, height), interpolation=interpolation)
              for c in range(0, image.shape[2], 3)]
    return groups[0] if len(groups) == 1 else np.concatenate(groups, axis=2)


def preprocess_images(images: list[np.ndarray], preprocess: dict[str, Any]) -> np.ndarray:
    """RGB uint8 (H, W, 3k) images -> float32 (B, 3k, H, W), resized and normalised for the model.

    ``preprocess``: ``input_size`` (C, H, W) with C = 3k for k crops stacked on the channel axis
    (``facetrust.faces.crop.crop_for_model``); ``channel_order`` "rgb" (default) or "bgr" (each
    crop's channels reversed); ``pixel_scale`` (default 255.0): values are divided by it before
    ``(x - mean) / std``, so 1.0 keeps 0..255.
    """
    channels, height, width = (int(v) for v in preprocess["input_size"])
    order = preprocess.get("channel_order", "rgb")
    if order not in CHANNEL_ORDERS:
        raise ConfigError(f"preprocess channel_order must be one of {CHANNEL_ORDERS}, got {order!r}")
    pixel_scale = float(preprocess.get("pixel_scale", 255.0))
    if not pixel_scale > 0:
        raise ConfigError(f"preprocess pixel_scale must be > 0, got {pixel_scale}")
    mean = np.asarray(preprocess["mean"], dtype=np.float32).reshape(1, 1, -1)
    std = np.asarray(preprocess["std"], dtype=np.float32).reshape(1, 1, -1)
    if order == "bgr" and channels % 3:
        raise ConfigError(f"preprocess channel_order 'bgr' needs 3k input channels, got {channels}")
    permutation = np.arange(channels).reshape(-1, 3)[:, ::-1].reshape(-1) if order == "bgr" else None
    batch = np.empty((len(images), channels, height, width), dtype=np.float32)
    for i, image in enumerate(images):
        if image.ndim == 3 and image.dtype == np.uint8 and image.shape[2] == 3 and channels > 3:
            raise DataError(
                f"image {i}: this model takes {channels // 3} face crops stacked on the channel axis "
                f"({channels} channels), not one 3-channel picture; use predictor.score_faces(image, boxes), "
                "which crops as the checkpoint records, or facetrust.faces.crop.crop_for_model"
            )
        if image.ndim != 3 or image.shape[2] != channels or image.dtype != np.uint8:
            raise DataError(f"image {i}: expected uint8 (H, W, {channels}), got {image.dtype} {image.shape}")
        if image.shape[:2] != (height, width):
            image = _resize(image, height, width)
        if permutation is not None:
            image = image[..., permutation]
        batch[i] = ((image.astype(np.float32) / np.float32(pixel_scale) - mean) / std).transpose(2, 0, 1)
    return batch


def softmax_bona_fide(logits: np.ndarray) -> np.ndarray:
    """P(bona fide) from (B, 2) logits ordered [attack, bona fide]."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp[:, 1] / exp.sum(axis=1)


class Predictor:
    """Common interface; subclasses implement ``logits(batch)`` on a preprocessed float32 batch."""

    preprocess: dict[str, Any]
    threshold: float | None
    class_names: tuple[str, ...]
    config: dict[str, Any]

    def logits(self, batch: np.ndarray) -> np.ndarray:  # (B, C, H, W) -> (B, 2)
        raise NotImplementedError

    def scores(self, images: list[np.ndarray | str | os.PathLike], batch_size: int = 32) -> np.ndarray:
        """P(bona fide) for RGB uint8 images, or image files (read upright with ``read_image``).

        Each image is scored whole, as a face crop: for photos with a face somewhere in them use
        ``facetrust.pipeline.analyze_image`` (detect, crop as trained, score each face)."""
        if any(isinstance(image, (str, os.PathLike)) for image in images):
            from facetrust.data.io import read_image

            images = [read_image(image) if isinstance(image, (str, os.PathLike)) else image for image in images]
        out = []
        for start in range(0, len(images), batch_size):
            batch = preprocess_images(images[start : start + batch_size], self.preprocess)
            out.append(softmax_bona_fide(self.logits(batch)))
        return np.concatenate(out) if out else np.empty(0, dtype=np.float32)

    @property
    def crop(self) -> dict[str, Any]:
        """The crop config this model was trained with (``config.json`` "crop", else the default)."""
        from facetrust.faces.crop import checkpoint_crop

        return checkpoint_crop(self.config, self.preprocess)

    def score_faces(self, image_rgb: np.ndarray, boxes: list, batch_size: int = 32) -> np.ndarray:
        """P(bona fide) per face box of an upright RGB uint8 image, cropped as the checkpoint records."""
        from facetrust.faces.crop import crop_for_model

        if not boxes:
            return np.empty(0, dtype=np.float32)
        crop = self.crop
        return self.scores([crop_for_model(image_rgb, box, crop) for box in boxes], batch_size=batch_size)

    def decide(self, scores: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """True = accepted as bona fide (live/real): ``score >= threshold``."""
        threshold = self.threshold if threshold is None else threshold
        if threshold is None:
            raise ValueError("this checkpoint has no calibrated threshold; pass one explicitly")
        return np.asarray(scores) >= threshold


class TorchPredictor(Predictor):
    def __init__(self, model, device: str = "cpu") -> None:
        self.model = model.eval()
        self.device = device
        self.preprocess = model.preprocess
        self.threshold = getattr(model, "threshold", None)
        self.class_names = tuple(getattr(model, "class_names", ("attack", "bona fide")))
        self.config = getattr(model, "checkpoint_config", None) or {}

    def logits(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            tensor = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
            return self.model(tensor).float().cpu().numpy()


def load(path: str | os.PathLike, device: str = "cpu") -> Predictor:
    """Load a checkpoint folder (PyTorch) or an exported ONNX folder as a predictor."""
    folder = Path(path)
    if (folder / "model.onnx").is_file():
        from facetrust.export.runtime import OnnxPredictor

        return OnnxPredictor(folder)
    from facetrust.checkpoint import load_model
    from facetrust.device import resolve_device

    device = resolve_device(device)
    return TorchPredictor(load_model(folder, device=device), device=device)
