"""What an explanation explains: a class logit or the similarity of the image to a text prompt.

Targets follow pytorch-grad-cam: a plain callable applied to one sample's model output (a 1-D
tensor) that returns the scalar to explain. facetrust logits are ordered [attack, bona fide], so
``"spoof"`` is index 0 and ``"live"`` index 1. A prompt target wraps the model in
``PromptSimilarity``, whose output is the cosine similarity of the image embedding and the prompt's
text embedding, so every method (CAMs included) can explain a prompt the same way it explains a logit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Target = Callable[[torch.Tensor], torch.Tensor]

CLASS_NAMES = {
    "spoof": 0, "attack": 0, "fake": 0,
    "live": 1, "bona fide": 1, "bonafide": 1, "real": 1,
}


class ClassTarget:
    """The logit of class ``index`` (pytorch-grad-cam's ``ClassifierOutputTarget`` semantics)."""

    def __init__(self, index: int) -> None:
        self.index = int(index)

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return output[..., self.index]

    def __repr__(self) -> str:
        return f"ClassTarget({self.index})"


def resolve_target(target: Any, output: torch.Tensor) -> Target:
    """None (the predicted class), an index, a class name ("spoof", "live") or a callable -> callable."""
    if target is None:
        return ClassTarget(int(output[0].argmax()))
    if callable(target):
        return target
    if isinstance(target, str):
        key = target.strip().lower().replace("_", " ")
        if key not in CLASS_NAMES:
            raise ValueError(f"unknown target {target!r}; use 'spoof', 'live', a class index or a callable")
        return ClassTarget(CLASS_NAMES[key])
    if isinstance(target, (int, np.integer)):
        if not 0 <= int(target) < output.shape[-1]:
            raise ValueError(f"target index {target} is out of range for {output.shape[-1]} outputs")
        return ClassTarget(int(target))
    raise TypeError(f"target must be None, an int, 'spoof'/'live' or a callable, got {type(target).__name__}")


def as_input_tensor(model: nn.Module, image: Any) -> tuple[torch.Tensor, tuple[int, int] | None]:
    """A (1, C, H, W) tensor for the model, and the original (H, W) when ``image`` was an RGB array."""
    if isinstance(image, torch.Tensor):
        x = image.unsqueeze(0) if image.ndim == 3 else image
        if x.ndim != 4 or x.shape[0] != 1:
            raise ValueError(f"expected a (1, C, H, W) tensor, got shape {tuple(image.shape)}")
        return x.float(), None
    if isinstance(image, np.ndarray):
        from facetrust.predictor import preprocess_images

        preprocess = getattr(model, "preprocess", None)
        if preprocess is None:
            raise ValueError("an RGB array needs model.preprocess (input_size, mean, std); pass a tensor instead")
        batch = preprocess_images([image], preprocess)
        return torch.from_numpy(batch), tuple(image.shape[:2])
    raise TypeError(f"image must be a torch tensor (1, C, H, W) or an RGB uint8 array, got {type(image).__name__}")


def encode_image(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Image embedding (B, D) of a CLIP/FLIP model (``encode_image``) or a bare open_clip image tower."""
    if hasattr(model, "encode_image"):
        return model.encode_image(x)
    if hasattr(model, "class_embedding") and hasattr(model, "proj"):
        return model(x)
    raise TypeError(f"{type(model).__name__} has no encode_image; prompt targets need a CLIP or FLIP model")


def prompt_embedding(model: nn.Module, prompt: str | torch.Tensor, tokenizer: Any = None) -> torch.Tensor:
    """Text embedding (D,) of ``prompt`` from the model's text tower (or a given embedding tensor)."""
    if isinstance(prompt, torch.Tensor):
        return prompt.detach().flatten().float()
    if hasattr(model, "encode_texts") and getattr(model, "has_text_tower", True):  # FLIP
        with torch.no_grad():
            return model.encode_texts([prompt])[0].float()
    tokenizer = tokenizer or getattr(model, "tokenizer", None)
    if tokenizer is None or not hasattr(model, "encode_text") or getattr(model, "token_embedding", 1) is None:
        raise ValueError(
            f"{type(model).__name__} cannot encode the prompt {prompt!r}: it needs a text tower and a tokenizer "
            "(inference checkpoints may drop the text tower; explain a class target instead, or pass the "
            "prompt's embedding as a tensor)"
        )
    with torch.no_grad():
        return model.encode_text(tokenizer([prompt]))[0].float()


class PromptSimilarity(nn.Module):
    """Output (B, 1): cosine similarity of the image embedding and a fixed text embedding."""

    def __init__(self, model: nn.Module, text_embedding: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("text_embedding", text_embedding.reshape(1, -1))
        self.preprocess = getattr(model, "preprocess", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image = encode_image(self.model, x)  # (B, D)
        return F.cosine_similarity(image, self.text_embedding.to(image.dtype), dim=-1)[:, None]
