"""A CLIP with both towers, from whatever the user names: a checkpoint folder, weights, or an open_clip name.

``load_clip(source, pretrained=None, arch=None)`` accepts

* a facetrust **checkpoint folder** whose model has a CLIP text side (FLIP-IT / FLIP-MCL with the
  text tower kept, or any model exposing an open_clip ``clip`` with ``encode_text``);
* a **.safetensors** file of an open_clip CLIP state dict (CLIP pretraining's ``clip.safetensors``,
  built as ``arch`` or the model name recorded in the file's metadata, default ``clip-tiny``: the same
  path ``model.pretrained: PATH`` uses);
* an **open_clip model name** (``ViT-B-16``, ``clip-tiny``) with ``pretrained`` a tag (``openai``;
  open_clip downloads it because the user asked for it by name) or a local weights file; no
  ``pretrained`` is a random initialisation (a floor, never a verdict: a warning says so).

The result, ``ClipModel``, encodes RGB uint8 images and texts and knows its context length, its
``logit_scale`` and an identity string that calibrations are tied to.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from facetrust.errors import CheckpointError


@dataclass
class ClipModel:
    """Both CLIP towers with the tokenizer and preprocessing they were trained with."""

    clip: nn.Module  # open_clip CLIP (encode_image, encode_text, logit_scale)
    tokenizer: Any
    preprocess: dict[str, Any]
    identity: str  # what the weights are: "sha256:..." of a file, or "open_clip:NAME:TAG"
    source: str
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.clip = self.clip.to(self.device).eval()
        self.clip.preprocess = self.preprocess  # explain() preprocesses RGB arrays with it

    @property
    def input_size(self) -> tuple[int, int]:
        _, height, width = self.preprocess["input_size"]
        return int(height), int(width)

    @property
    def context_length(self) -> int:
        return int(getattr(self.tokenizer, "context_length", None) or getattr(self.clip, "context_length", 77))

    @property
    def logit_scale(self) -> float:
        """CLIP's temperature as used in its zero-shot classification: exp(logit_scale), capped at 100."""
        return float(self.clip.logit_scale.detach().exp().clamp(max=100.0))

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` including start and end of text."""
        if hasattr(self.tokenizer, "encode"):
            return len(self.tokenizer.encode(text)) + 2
        tokens = self.tokenizer([text])[0]
        return int((tokens != 0).sum())

    def tensor(self, images: list[np.ndarray]) -> torch.Tensor:
        """RGB uint8 images -> the normalised (B, 3, H, W) batch (resized to the model's input)."""
        from facetrust.predictor import preprocess_images

        return torch.from_numpy(preprocess_images(images, self.preprocess)).to(self.device)

    @torch.no_grad()
    def encode_images(self, images: list[np.ndarray], batch_size: int = 64) -> torch.Tensor:
        """Image embeddings (N, D), not normalised."""
        out = [self.clip.encode_image(self.tensor(images[i : i + batch_size])).float().cpu()
               for i in range(0, len(images), batch_size)]
        return torch.cat(out) if out else torch.empty(0, int(self.clip.visual.output_dim))

    @torch.no_grad()
    def encode_texts(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """Text embeddings (N, D), not normalised (texts longer than the context are cut by the tokenizer)."""
        out = [self.clip.encode_text(self.tokenizer(list(texts[i : i + batch_size])).to(self.device)).float().cpu()
               for i in range(0, len(texts), batch_size)]
        return torch.cat(out) if out else torch.empty(0, int(self.clip.visual.output_dim))


def module_identity(module: nn.Module) -> str:
    """``sha256:...`` of a module's weights (names and bytes), for models that live only in memory."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


def _file_identity(path: Path) -> str:
    from facetrust.checkpoint import file_sha256

    return f"sha256:{file_sha256(path)}"


def _recorded_arch(path: Path) -> str:
    """The open_clip model name CLIP pretraining records in the file's metadata (default clip-tiny)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return (f.metadata() or {}).get("open_clip_model", "clip-tiny")
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path} is not a readable .safetensors file ({err})") from err


def _from_checkpoint(folder: Path, device: str) -> ClipModel:
    from facetrust.checkpoint import WEIGHTS, load_model
    from facetrust.models.clip import has_text_tower

    model = load_model(folder, device=device)
    clip = getattr(model, "clip", model)
    if not hasattr(clip, "encode_text") or not has_text_tower(clip):
        raise CheckpointError(
            f"{folder}: the model ({model.checkpoint_config['architecture']['name']}) has no CLIP text tower, "
            "so it cannot read claims; use a CLIP-pretraining output, a FLIP-IT/MCL checkpoint saved with its "
            "text tower, or an open_clip name with --pretrained"
        )
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        import open_clip

        tokenizer = open_clip.get_tokenizer(model.checkpoint_config["architecture"]["kwargs"].get("clip", "clip-tiny"))
    sha = model.checkpoint_config["files"][WEIGHTS]["sha256"]
    return ClipModel(clip, tokenizer, dict(model.preprocess), f"sha256:{sha}", str(folder), device)


def load_clip(source: str | os.PathLike, pretrained: str | None = None, arch: str | None = None,
              device: str = "cpu") -> ClipModel:
    """A ``ClipModel`` from a checkpoint folder, a .safetensors file or an open_clip name (module docstring)."""
    from facetrust.models.clip import create_clip

    text = str(source)
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        if pretrained is not None or arch is not None:
            raise CheckpointError(f"{path} is a checkpoint folder: --pretrained and --arch apply to open_clip names")
        return _from_checkpoint(path, device)
    if path.suffix or os.sep in text:
        if not path.is_file():
            raise CheckpointError(f"model {path} does not exist (give a checkpoint folder, a .safetensors CLIP "
                                  "or an open_clip name such as clip-tiny or ViT-B-16)")
        if pretrained is not None:
            raise CheckpointError(f"{path} is a weights file already; --pretrained applies to open_clip names")
        clip, tokenizer, preprocess = create_clip(arch or _recorded_arch(path), str(path))
        return ClipModel(clip, tokenizer, preprocess, _file_identity(path), str(path), device)
    try:
        clip, tokenizer, preprocess = create_clip(text, pretrained)
    except KeyError as err:
        raise CheckpointError(str(err.args[0])) from err
    if pretrained is None:
        warnings.warn(f"{text} has random weights (no --pretrained): its claim scores are a floor, not evidence",
                      UserWarning, stacklevel=2)
        identity = f"open_clip:{text}:random"
    else:
        weights = Path(os.path.expanduser(pretrained))
        identity = _file_identity(weights) if weights.is_file() else f"open_clip:{text}:{pretrained}"
    return ClipModel(clip, tokenizer, preprocess, identity, text, device)
