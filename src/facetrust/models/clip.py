"""CLIP through open_clip: any open_clip model name, random or pretrained weights, plus ``clip-tiny``.

``create_clip(name, pretrained)`` returns the open_clip model, its tokenizer and facetrust's
preprocessing dict. ``pretrained`` is ``None`` (random init, offline), a pretrained tag such as
``"openai"`` (open_clip downloads it: the user asked for it by name), or a local ``.safetensors`` file
(read with safetensors; pickle files are refused, never unpickled).

``clip-tiny`` is a small CLIP (64 px, patch 8, 4 vision layers of width 128, 2 text layers of width
64, 64-d embedding) registered through open_clip's own model-config mechanism
(``open_clip.add_model_config``), so open_clip itself builds it and the real BPE tokenizer is kept.
It exists for tests and the CPU demo. ``clip-small`` is one size up (6 vision layers of width 256,
4 text layers of width 128, 128-d embedding); both are pretrained by ``task: clip`` (docs/clip.md).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from facetrust.errors import CheckpointError

TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "clip-tiny": {
        "embed_dim": 64,
        "vision_cfg": {"image_size": 64, "layers": 4, "width": 128, "head_width": 32, "patch_size": 8},
        "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
    },
    # one size up (same 64 px input and context, for pretraining on the captioned corpus)
    "clip-small": {
        "embed_dim": 128,
        "vision_cfg": {"image_size": 64, "layers": 6, "width": 256, "head_width": 64, "patch_size": 8},
        "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 128, "heads": 4, "layers": 4},
    },
}
PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".tar"}
_config_dir: Path | None = None


def register_tiny_configs() -> None:
    """Add facetrust's tiny CLIP configs to open_clip's registry (once per process)."""
    global _config_dir
    import open_clip

    if _config_dir is not None and all(n in open_clip.list_models() for n in TINY_CONFIGS):
        return
    _config_dir = Path(tempfile.mkdtemp(prefix="facetrust-clip-configs-"))
    for name, cfg in TINY_CONFIGS.items():
        (_config_dir / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(_config_dir)


def _check_weights_file(path: Path) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path} is a pickle file; facetrust never unpickles weights. Convert it to .safetensors in a "
            "trusted environment (safetensors.torch.save_file(model.state_dict(), ...))"
        )
    if path.suffix.lower() != ".safetensors":
        raise CheckpointError(f"{path}: pretrained weights by path must be a .safetensors file")


def clip_names() -> list[str]:
    """Every CLIP name create_clip() accepts: facetrust's tiny ones first, then open_clip's."""
    import open_clip

    register_tiny_configs()
    return list(TINY_CONFIGS) + [n for n in open_clip.list_models() if n not in TINY_CONFIGS]


def check_clip(name: str, pretrained: str | None, key: str = "model") -> None:
    """ConfigError unless ``name`` is a known CLIP and ``pretrained`` is None, a file path or one of its tags.

    Run when a config is read, so a typo is reported before any data is generated or read.
    """
    import open_clip

    from facetrust.errors import ConfigError

    names = clip_names()
    if name not in names and ":" not in name:
        examples = ", ".join(n for n in ("ViT-B-16", "ViT-B-32", "ViT-L-14") if n in names)
        raise ConfigError(
            f"{key}.clip = {name!r} is not a known CLIP; facetrust's own: {', '.join(TINY_CONFIGS)}; "
            f"open_clip's {len(names) - len(TINY_CONFIGS)} include {examples} (`facetrust models 'ViT*'` lists them)")
    if pretrained is None or ":" in name:
        return
    path = Path(os.path.expanduser(pretrained))
    if path.suffix != "" or os.sep in pretrained:
        return  # a file: checked when the model is built
    tags = open_clip.list_pretrained_tags_by_model(name)
    if pretrained not in tags:
        known = f"open_clip's tags for it: {', '.join(tags)}" if tags else "open_clip has no pretrained tag for it"
        raise ConfigError(
            f"{key}.pretrained = {pretrained!r}: no such pretrained tag for {name!r} ({known}). Pass a "
            ".safetensors file (e.g. runs/clip/clip_tiny/clip.safetensors from `facetrust train "
            "configs/clip/clip_tiny.yaml`) or null for random weights; a tag downloads, so only on a machine online")


def create_clip(name: str = "ViT-B-16", pretrained: str | None = None) -> tuple[nn.Module, Any, dict]:
    """Build an open_clip CLIP model -> (model, tokenizer, preprocess) in fp32 on the CPU."""
    import open_clip

    register_tiny_configs()
    if name not in open_clip.list_models() and ":" not in name:
        raise KeyError(f"unknown CLIP model {name!r}; use {' or '.join(repr(n) for n in TINY_CONFIGS)} or an "
                       "open_clip name such as 'ViT-B-16' (`facetrust models` lists them)")
    kwargs: dict[str, Any] = {}
    if pretrained is not None:
        path = Path(os.path.expanduser(pretrained))
        looks_like_path = path.suffix != "" or os.sep in pretrained
        if looks_like_path:
            if not path.is_file():
                raise CheckpointError(f"pretrained weights file {path} does not exist")
            _check_weights_file(path)
            pretrained = str(path)
        kwargs = {"pretrained": pretrained, "require_pretrained": True, "weights_only": True}
    if pretrained is None:  # open_clip logs a warning for the random init we asked for; keep it quiet
        logging.disable(logging.WARNING)
    try:
        model = open_clip.create_model(name, **kwargs)
    finally:
        logging.disable(logging.NOTSET)
    tokenizer = open_clip.get_tokenizer(name)
    pp = getattr(model.visual, "preprocess_cfg", {}) or {}
    height, width = model.visual.image_size
    preprocess = {
        "input_size": (3, int(height), int(width)),
        "mean": tuple(float(v) for v in pp.get("mean", open_clip.OPENAI_DATASET_MEAN)),
        "std": tuple(float(v) for v in pp.get("std", open_clip.OPENAI_DATASET_STD)),
    }
    return model, tokenizer, preprocess


TEXT_TOWER_ATTRS = (
    "transformer", "token_embedding", "positional_embedding", "ln_final", "text_projection", "attn_mask", "text",
)


def has_text_tower(clip: nn.Module) -> bool:
    """True while the CLIP model still has its text encoder."""
    return getattr(clip, "token_embedding", None) is not None or getattr(clip, "text", None) is not None


def text_tower_parameters(clip: nn.Module) -> list[nn.Parameter]:
    """The parameters of the text encoder (empty once it was dropped)."""
    params = []
    for attr in TEXT_TOWER_ATTRS:
        value = getattr(clip, attr, None)
        if isinstance(value, nn.Module):
            params.extend(value.parameters())
        elif isinstance(value, nn.Parameter):
            params.append(value)
    return params


def drop_text_tower(clip: nn.Module) -> None:
    """Delete the text encoder of an open_clip CLIP (``CLIP`` or ``CustomTextCLIP``) in place."""
    for attr in TEXT_TOWER_ATTRS:
        if hasattr(clip, attr):
            delattr(clip, attr)
            setattr(clip, attr, None)


def pre_projection_features(visual: nn.Module, images) -> Any:
    """Pooled image features of an open_clip ``VisionTransformer`` before ``proj``: (B, width).

    For a CLIP ViT this is the class token after ``ln_post`` (768-d for ViT-B/16), the feature FLIP-V
    feeds to its MLP head. Uses the tower's own embed / transformer / pool steps (open_clip 3.x).
    """
    x = visual._embeds(images)
    x = visual.transformer(x)
    pooled, _ = visual._pool(x)
    return pooled
