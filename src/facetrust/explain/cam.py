"""Class activation maps through pytorch-grad-cam: GradCAM, GradCAM++, LayerCAM, EigenGradCAM.

* GradCAM (Selvaraju et al., ICCV 2017): channel weights = spatial mean of the target's gradient.
* GradCAM++ (Chattopadhay et al., WACV 2018): weights from second/third-order gradient terms.
* LayerCAM (Jiang et al., TIP 2021): element-wise positive gradient times activation.
* EigenGradCAM: first principal component of gradient x activation. The sign of a principal component
  is arbitrary (SVD), so facetrust orients it to correlate positively with the channel sum of gradient x
  activation; without this a map can come out inverted, highlighting the background.

The target layer is chosen from the model: for a vision transformer (open_clip or timm, found with
``facetrust.features.find_vit``) the first LayerNorm of the last block, whose (B, N, C) tokens are
reshaped to their patch grid with ``token_layout`` / ``tokens_to_grid`` for the actual input size;
for a CNN the last module (in execution order) that outputs a spatial (B, C, h, w) map larger than 1x1.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from facetrust.features import find_vit, token_layout, tokens_to_grid
from facetrust.registry import EXPLAINERS


def vit_target_layer(vit: nn.Module) -> nn.Module:
    """LayerNorm before attention in the last block (open_clip ``ln_1``, timm ``norm1``)."""
    if hasattr(vit, "transformer"):
        return vit.transformer.resblocks[-1].ln_1
    return vit.blocks[-1].norm1


def vit_reshape_transform(vit: nn.Module, input_hw: tuple[int, int]) -> Callable[[torch.Tensor], torch.Tensor]:
    """(B, N, C) tokens of ``vit`` at ``input_hw`` -> (B, C, grid_h, grid_w), layout read from the model."""
    layout = token_layout(vit, input_hw)
    sequence_first = hasattr(vit, "transformer") and not getattr(vit.transformer, "batch_first", True)

    def reshape(tokens: torch.Tensor) -> torch.Tensor:
        return tokens_to_grid(tokens.transpose(0, 1) if sequence_first else tokens, layout)

    return reshape


def cnn_target_layer(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """The last module to finish whose output is a (B, C, h, w) map with h * w > 1 (one dry run)."""
    spatial: list[nn.Module] = []

    def record(module: nn.Module, inputs: tuple, output: object) -> None:
        if isinstance(output, torch.Tensor) and output.ndim == 4 and output.shape[-2] * output.shape[-1] > 1:
            spatial.append(module)

    handles = [m.register_forward_hook(record) for m in model.modules() if m is not model]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    if not spatial:
        raise TypeError(f"{type(model).__name__} produces no spatial feature map; CAMs need a CNN or a ViT")
    return spatial[-1]


def find_target_layer(model: nn.Module, x: torch.Tensor, layer: str | None = None):
    """(target layer, reshape transform or None) for ``model`` at the input ``x``."""
    vit = find_vit(model)
    if layer is not None:
        modules = dict(model.named_modules())
        if layer not in modules:
            raise KeyError(f"no module named {layer!r} in {type(model).__name__} (see model.named_modules())")
        reshape = vit_reshape_transform(vit, tuple(x.shape[-2:])) if vit is not None else None
        return modules[layer], reshape
    if vit is not None:
        return vit_target_layer(vit), vit_reshape_transform(vit, tuple(x.shape[-2:]))
    return cnn_target_layer(model, x), None


def _signed_eigengradcam():
    """pytorch-grad-cam's EigenGradCAM with the principal component's sign fixed (see module docstring)."""
    from pytorch_grad_cam import EigenGradCAM
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

    class SignedEigenGradCAM(EigenGradCAM):
        def get_cam_image(self, input_tensor, target_layer, targets, activations, grads, eigen_smooth):
            product = grads * activations  # (B, C, h, w)
            cam = get_2d_projection(product)  # (B, h, w), sign arbitrary
            reference = product.sum(axis=1)
            for i in range(len(cam)):
                if np.sum((cam[i] - cam[i].mean()) * (reference[i] - reference[i].mean())) < 0:
                    cam[i] = -cam[i]
            return cam

    return SignedEigenGradCAM


def _cam_class(name: str):
    import pytorch_grad_cam

    return _signed_eigengradcam() if name == "EigenGradCAM" else getattr(pytorch_grad_cam, name)


def _cam_explainer(cam_class_name: str):
    def explain_with_cam(
        model: nn.Module, x: torch.Tensor, target: Callable, layer: str | None = None, **_: object
    ) -> np.ndarray:
        cam_class = _cam_class(cam_class_name)
        target_layer, reshape = find_target_layer(model, x, layer)
        # The input carries the gradient, so frozen models (no trainable parameter) work too.
        x = x.detach().clone().requires_grad_(True)
        cam = cam_class(model=model, target_layers=[target_layer], reshape_transform=reshape)
        try:
            with torch.enable_grad():
                heatmap = cam(input_tensor=x, targets=[target])
        finally:
            cam.activations_and_grads.release()
        return heatmap[0]

    explain_with_cam.__name__ = f"explain_{cam_class_name}"
    explain_with_cam.__doc__ = f"pytorch-grad-cam's {cam_class_name} on the model's last spatial layer."
    return explain_with_cam


EXPLAINERS.register("gradcam")(_cam_explainer("GradCAM"))
EXPLAINERS.register("gradcam++")(_cam_explainer("GradCAMPlusPlus"))
EXPLAINERS.register("layercam")(_cam_explainer("LayerCAM"))
EXPLAINERS.register("eigengradcam")(_cam_explainer("EigenGradCAM"))
