"""Image transforms; normalisation always comes from the model's ``preprocess`` dict.

Inputs are uint8 RGB arrays (H, W, 3) as returned by ``read_image``; outputs are float32 tensors
(C, H, W) normalised with the model's mean and std (CLIP's or ImageNet's: it travels with the model).
``eval_transform`` is the exact preprocessing of ``facetrust.predictor`` (OpenCV resize), so numbers
measured on a dataset match what a deployed predictor sees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

Transform = Callable[[np.ndarray], torch.Tensor]


def _size(preprocess: dict[str, Any]) -> tuple[int, int]:
    _, height, width = preprocess["input_size"]
    return int(height), int(width)


def _normalise(preprocess: dict[str, Any]):
    from torchvision.transforms import v2

    return v2.Compose([
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=list(preprocess["mean"]), std=list(preprocess["std"])),
    ])


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)  # (3, H, W) uint8


def eval_transform(preprocess: dict[str, Any]) -> Transform:
    """Resize + normalise, identical to ``facetrust.predictor.preprocess_images``."""
    from facetrust.predictor import preprocess_images

    def transform(image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(preprocess_images([image], preprocess)[0])

    return transform


def train_transform(preprocess: dict[str, Any], scale: tuple[float, float] = (0.8, 1.0)) -> Transform:
    """Light augmentation for supervised training: crop 80-100 %, horizontal flip, mild colour jitter."""
    from torchvision.transforms import v2

    pipeline = v2.Compose([
        v2.RandomResizedCrop(_size(preprocess), scale=scale, ratio=(0.9, 1.1), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1),
        _normalise(preprocess),
    ])
    return lambda image: pipeline(_to_tensor(image))


def simclr_views(preprocess: dict[str, Any]) -> Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]]:
    """Two random views of an image for SimCLR (Chen et al., ICML 2020), as FLIP-MCL uses them.

    RandomResizedCrop (scale 0.08-1), horizontal flip, colour jitter (0.4, 0.4, 0.4, 0.1) with p=0.8,
    grayscale with p=0.2, Gaussian blur with p=0.5.
    """
    from torchvision.transforms import v2

    height, width = _size(preprocess)
    kernel = max(3, (min(height, width) // 10) | 1)  # odd, about 10 % of the side as in SimCLR
    pipeline = v2.Compose([
        v2.RandomResizedCrop((height, width), scale=(0.08, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
        v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=0.5),
        _normalise(preprocess),
    ])

    def views(image: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        tensor = _to_tensor(image)
        return pipeline(tensor), pipeline(tensor)

    return views
