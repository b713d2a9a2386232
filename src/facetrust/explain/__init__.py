"""Why did the model decide live or spoof? Heatmaps from CAMs, attention rollout and CLIP relevance.

``explain(model, image, method, target=None, prompt=None)`` returns an (H, W) float32 heatmap in
[0, 1] at the input's resolution. Methods are looked up in ``facetrust.registry.EXPLAINERS``:

=================  ==============================================  ================================
method             what                                            models
=================  ==============================================  ================================
``gradcam``        GradCAM (pytorch-grad-cam)                      CNNs, timm ViTs, open_clip towers
``gradcam++``      GradCAM++ (pytorch-grad-cam)                    same
``layercam``       LayerCAM (pytorch-grad-cam)                     same
``eigengradcam``   EigenGradCAM (pytorch-grad-cam)                 same
``rollout``        attention rollout (Abnar & Zuidema 2020)        timm ViTs, open_clip towers
``clip-relevance`` gradient-weighted attention (Chefer et al. 21)  timm ViTs, open_clip towers, FLIP
``random``         a random map: a floor for faithfulness scores   any
=================  ==============================================  ================================

``target``: None (the predicted class), ``"spoof"`` (logit 0), ``"live"`` (logit 1), an index, or a
callable on one sample's model output (pytorch-grad-cam style). ``prompt``: a text (or its embedding)
whose cosine similarity with the image embedding becomes the target (CLIP/FLIP with a text tower).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from facetrust.explain import cam, clip_relevance, rollout  # noqa: F401  (register the methods)
from facetrust.explain.maps import normalise
from facetrust.explain.targets import PromptSimilarity, as_input_tensor, prompt_embedding, resolve_target
from facetrust.features import find_vit, token_layout
from facetrust.registry import EXPLAINERS

__all__ = ["explain", "list_methods", "METHODS"]

METHODS = ("gradcam", "gradcam++", "layercam", "eigengradcam", "rollout", "clip-relevance")


@EXPLAINERS.register("random")
def explain_random(model: nn.Module, x: torch.Tensor, target: Any = None, seed: int | None = None,
                   **_: Any) -> np.ndarray:
    """Uniform noise, smoothed to patch-like blobs: the baseline any real method should beat.

    The seed defaults to one derived from the image, so each image gets its own, reproducible map."""
    if seed is None:
        seed = int(np.frombuffer(x.detach().float().cpu().numpy().tobytes(), dtype=np.uint8).sum())
    generator = np.random.default_rng(seed)
    height, width = x.shape[-2:]
    coarse = torch.from_numpy(generator.random((1, 1, max(1, height // 8), max(1, width // 8)), dtype=np.float32))
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear")[0, 0].numpy()


def list_methods() -> list[str]:
    """Names of the registered explanation methods."""
    return EXPLAINERS.names()


def explain(
    model: nn.Module | Any,
    image: torch.Tensor | np.ndarray,
    method: str,
    target: Any = None,
    prompt: str | torch.Tensor | None = None,
    **options: Any,
) -> np.ndarray:
    """Heatmap (H, W) float32 in [0, 1] of why ``model`` scored ``image`` as it did.

    ``model`` is a PyTorch model or what ``facetrust.load(CHECKPOINT)`` returns (its ``.model``).
    ``image`` is a preprocessed (1, C, H, W) tensor (the map has its H x W) or an RGB uint8 array
    (preprocessed with ``model.preprocess``; the map is resized back to the array's size). ``options``
    go to the method (``layer=`` a module name for CAMs, ``head_fusion=`` for rollout, ``start_layer=``
    for clip-relevance, ``tokenizer=`` for a prompt on a bare open_clip model).
    """
    explainer = EXPLAINERS.get(method)
    if not isinstance(model, nn.Module):  # a predictor from facetrust.load(): its PyTorch model
        torch_model = getattr(model, "model", None)
        if not isinstance(torch_model, nn.Module):
            raise TypeError(f"explain needs a PyTorch model or a facetrust.load() predictor of a checkpoint "
                            f"folder, not {type(model).__name__} (an exported ONNX folder has no gradients: "
                            "explain its source checkpoint)")
        model = torch_model
    x, original_hw = as_input_tensor(model, image)
    device = next(model.parameters()).device
    x = x.to(device)
    vit = find_vit(model)
    if vit is not None:
        token_layout(vit, tuple(x.shape[-2:]))  # a clear error when the size does not fit the patch grid
    was_training = model.training
    model.eval()
    try:
        if prompt is not None:
            if target is not None:
                raise ValueError("give either a target or a prompt, not both")
            model = PromptSimilarity(model, prompt_embedding(model, prompt, options.pop("tokenizer", None))).to(device)
            target = 0
        with torch.no_grad():
            output = model(x)
        heatmap = explainer(model, x, resolve_target(target, output), **options)
    finally:
        model.train(was_training)
    heatmap = normalise(heatmap)
    if heatmap.shape != tuple(x.shape[-2:]):
        raise RuntimeError(f"{method} returned a {heatmap.shape} map for a {tuple(x.shape[-2:])} input")
    if original_hw is not None and original_hw != heatmap.shape:
        import cv2

        heatmap = normalise(cv2.resize(heatmap, (original_hw[1], original_hw[0]), interpolation=cv2.INTER_LINEAR))
    return heatmap
