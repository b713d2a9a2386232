"""Predictors: a checkpoint folder loaded for inference, with its preprocessing and threshold.

``facetrust.load(path)`` returns a ``TorchPredictor`` for a checkpoint folder (``model.safetensors``)
and an ONNX predictor for an exported folder (``model.onnx``), so a deployed model needs no PyTorch.
Both take RGB uint8 images (H, W, 3), resize and normalise them as the model was trained, and
return logits in the order [attack, bona fide], scores = P(bona fide) and live/spoof decisions
(``score >= threshold``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


def preprocess_images(images: list[np.ndarray], preprocess: dict[str, Any]) -> np.ndarray:
    """RGB uint8 (H, W, 3) images -> float32 (B, C, H, W), resized and normalised for the model."""
    import cv2

    channels, height, width = preprocess["input_size"]
    mean = np.asarray(preprocess["mean"], dtype=np.float32).reshape(1, 1, -1)
    std = np.asarray(preprocess["std"], dtype=np.float32).reshape(1, 1, -1)
    batch = np.empty((len(images), channels, height, width), dtype=np.float32)
    for i, image in enumerate(images):
        if image.ndim != 3 or image.shape[2] != channels or image.dtype != np.uint8:
            raise ValueError(f"image {i}: expected uint8 (H, W, {channels}), got {image.dtype} {image.shape}")
        if image.shape[:2] != (height, width):
            interpolation = cv2.INTER_AREA if image.shape[0] > height else cv2.INTER_LINEAR
            image = cv2.resize(image, (width, height), interpolation=interpolation)
        batch[i] = ((image.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)
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

    def scores(self, images: list[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """P(bona fide) for RGB uint8 images."""
        out = []
        for start in range(0, len(images), batch_size):
            batch = preprocess_images(images[start : start + batch_size], self.preprocess)
            out.append(softmax_bona_fide(self.logits(batch)))
        return np.concatenate(out) if out else np.empty(0, dtype=np.float32)

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
        self.config = getattr(model, "checkpoint_config", {})

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

    return TorchPredictor(load_model(folder, device=device), device=device)
