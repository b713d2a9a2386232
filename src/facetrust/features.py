"""Named forward taps and ViT token -> grid reshapes derived from the model itself.

``FeatureTaps`` records the outputs of named sub-modules during a forward pass without rewriting
the model (torchdistill's forward-hook idea); distillation losses and CAMs read ``taps.outputs``.
``token_layout`` reads the patch size and the number of prefix tokens (class, register, distillation
tokens) from an open_clip or timm vision transformer, so a (B, N, C) token tensor can be reshaped to
its (B, C, H', W') patch grid for any input size — square or not, patch 8 or 16 — never a fixed 14x14.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


class FeatureTaps:
    """Context manager: ``with FeatureTaps(model, ["visual.transformer.resblocks.3"]) as taps: model(x)``.

    ``taps.outputs[name]`` holds each tapped module's output (the first element when the module
    returns a tuple). ``detach=True`` stores detached tensors (for a frozen teacher). Hooks are removed
    on exit, also when the forward pass raises.
    """

    def __init__(self, model: nn.Module, names: list[str] | tuple[str, ...], detach: bool = False) -> None:
        modules = dict(model.named_modules())
        unknown = [n for n in names if n not in modules]
        if unknown:
            raise KeyError(
                f"no module named {unknown} in {type(model).__name__}; "
                f"tap one of e.g. {list(modules)[1:8]} (see model.named_modules())"
            )
        self.model = model
        self.names = list(names)
        self.detach = detach
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles: list[Any] = []
        self._modules = modules

    def _hook(self, name: str):
        def record(module: nn.Module, inputs: Any, output: Any) -> None:
            value = output[0] if isinstance(output, (tuple, list)) else output
            self.outputs[name] = value.detach() if self.detach else value

        return record

    def __enter__(self) -> FeatureTaps:
        self.outputs = {}
        self._handles = [self._modules[n].register_forward_hook(self._hook(n)) for n in self.names]
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


@dataclass(frozen=True)
class TokenLayout:
    grid_h: int
    grid_w: int
    n_prefix: int

    @property
    def n_tokens(self) -> int:
        return self.grid_h * self.grid_w + self.n_prefix


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def find_vit(model: nn.Module) -> nn.Module | None:
    """The vision transformer inside ``model`` (itself, ``model.visual``, a student's backbone), or None."""
    for module in model.modules():
        if _patch_size(module) is not None:
            return module
    return None


def _patch_size(vit: nn.Module) -> tuple[int, int] | None:
    if hasattr(vit, "conv1") and hasattr(vit, "class_embedding") and hasattr(vit, "transformer"):
        return _pair(vit.conv1.stride)  # open_clip VisionTransformer
    patch_embed = getattr(vit, "patch_embed", None)
    if patch_embed is not None and hasattr(vit, "num_prefix_tokens"):
        return _pair(patch_embed.patch_size)  # timm VisionTransformer (and relatives)
    return None


def token_layout(vit: nn.Module, input_hw: tuple[int, int] | None = None) -> TokenLayout:
    """Patch grid and prefix-token count of an open_clip or timm ViT for an input of ``input_hw``.

    ``input_hw`` defaults to the model's configured image size. ``vit`` may also be a model that
    contains a ViT (a FLIP model, a student); the first ViT found is used.
    """
    inner = vit if _patch_size(vit) is not None else find_vit(vit)
    if inner is None:
        raise TypeError(f"{type(vit).__name__} has no vision transformer with a known patch layout")
    patch_h, patch_w = _patch_size(inner)
    if hasattr(inner, "class_embedding"):  # open_clip: one class token
        n_prefix = 1
        default_hw = _pair(inner.image_size)
    else:  # timm: class, register and distillation tokens
        n_prefix = int(inner.num_prefix_tokens)
        default_hw = _pair(inner.patch_embed.img_size)
    height, width = input_hw if input_hw is not None else default_hw
    if height % patch_h or width % patch_w:
        raise ValueError(f"input {height}x{width} is not a multiple of the patch size {patch_h}x{patch_w}")
    return TokenLayout(height // patch_h, width // patch_w, n_prefix)


def tokens_to_grid(tokens: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
    """(B, N, C) tokens (prefix tokens first) -> (B, C, grid_h, grid_w) patch map."""
    if tokens.ndim != 3:
        raise ValueError(f"expected (B, N, C) tokens, got shape {tuple(tokens.shape)}")
    if tokens.shape[1] != layout.n_tokens:
        raise ValueError(
            f"{tokens.shape[1]} tokens do not fit a {layout.grid_h}x{layout.grid_w} grid with "
            f"{layout.n_prefix} prefix tokens ({layout.n_tokens}); is the input size right?"
        )
    patches = tokens[:, layout.n_prefix :, :]
    batch, _, channels = patches.shape
    return patches.transpose(1, 2).reshape(batch, channels, layout.grid_h, layout.grid_w)
