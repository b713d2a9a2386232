"""FLIP teachers on CLIP: FLIP-V, FLIP-IT and FLIP-MCL (Srivatsan et al., ICCV 2023, "FLIP: Cross-domain
Face Anti-spoofing with Language Guidance").

All three return (B, 2) logits ordered [attack, bona fide].

- FLIP-V: the image tower's class token before the projection -> Linear(width, 512), ReLU, Dropout 0.5
  -> FLIP's feature normalisation -> Linear(512, 2) with L2-normalised weights (no extra scale).
- FLIP-IT: logits = logit_scale * cos(image embedding, class text embedding), the class text embedding
  being the mean of that class's normalised prompt embeddings, renormalised.
- FLIP-MCL: FLIP-IT plus a SimCLR projector; its extra losses live in ``facetrust.losses.flip`` and are
  wired by ``facetrust.tasks.fas``.

Inference never runs the text tower: ``class_text_embeddings`` (2, D) is a buffer computed from the
prompts and stored in the checkpoint. In training mode with a trainable text tower, ``forward``
re-encodes the prompts (gradients reach the text tower, as in FLIP) and refreshes the buffer.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from facetrust.models.clip import create_clip, has_text_tower, pre_projection_features, text_tower_parameters
from facetrust.models.clip import drop_text_tower as _drop_clip_text
from facetrust.prompts import FLIP_NEGATIVE_PROMPTS, FLIP_POSITIVE_PROMPTS
from facetrust.registry import MODELS

CLASS_NAMES = ("attack", "bona fide")
DEFAULT_PROMPTS: dict[str, list[str]] = {"attack": list(FLIP_NEGATIVE_PROMPTS), "bona fide": list(FLIP_POSITIVE_PROMPTS)}


def validate_prompts(prompts: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """Prompts as {"attack": [...], "bona fide": [...]}, each a non-empty list of strings."""
    if prompts is None:
        return {k: list(v) for k, v in DEFAULT_PROMPTS.items()}
    if not isinstance(prompts, dict) or set(prompts) != set(CLASS_NAMES):
        raise ValueError(f"prompts must be a dict with exactly the keys {list(CLASS_NAMES)}, got {prompts!r}")
    for key in CLASS_NAMES:
        texts = prompts[key]
        if not isinstance(texts, (list, tuple)) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise ValueError(f"prompts[{key!r}] must be a non-empty list of non-empty strings")
    return {k: list(prompts[k]) for k in CLASS_NAMES}


class FlipVHead(nn.Module):
    """FLIP-V's head, as in FLIP's code (inherited from SSDG): bottleneck MLP, feature normalisation
    f / sqrt(2 * ||f||), and a bias-carrying linear classifier whose weight is L2-normalised over the
    class axis (dim 0) for each input feature. Normalising inside forward (instead of overwriting the
    weight as FLIP does) keeps the same outputs and lets gradients see the normalisation."""

    def __init__(self, in_dim: int, hidden_dim: int = 512, dropout: float = 0.5) -> None:
        super().__init__()
        self.bottleneck = nn.Linear(in_dim, hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_dim, 2)
        nn.init.normal_(self.bottleneck.weight, 0.0, 0.005)
        nn.init.constant_(self.bottleneck.bias, 0.1)
        nn.init.normal_(self.classifier.weight, 0.0, 0.01)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # (B, in_dim) -> (B, 2)
        hidden = self.dropout(F.relu(self.bottleneck(features)))
        norm = hidden.norm(p=2, dim=1, keepdim=True).clamp(min=1e-12)
        hidden = hidden / (norm.sqrt() * 2**0.5)
        weight = F.normalize(self.classifier.weight, p=2, dim=0)
        return F.linear(hidden, weight, self.classifier.bias)


def simclr_projector(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """SimCLR projection MLP with BatchNorm (FLIP-MCL: 512 -> 4096 -> 4096 -> 256)."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, out_dim),
    )


class FlipModel(nn.Module):
    """A CLIP model with a FLIP head (``variant`` = "v", "it" or "mcl"); see the module docstring."""

    def __init__(
        self,
        variant: str,
        clip: str = "ViT-B-16",
        pretrained: str | None = None,
        prompts: dict[str, list[str]] | None = None,
        text_tower: bool = True,
    ) -> None:
        super().__init__()
        if variant not in ("v", "it", "mcl"):
            raise ValueError(f"FLIP variant must be 'v', 'it' or 'mcl', got {variant!r}")
        self.variant = variant
        self.clip, self.tokenizer, self.preprocess = create_clip(clip, pretrained)
        self.prompts = validate_prompts(prompts)
        self.class_names = CLASS_NAMES
        self.checkpoint_extra: dict[str, Any] = {"prompts": self.prompts, "variant": variant}
        self.embed_dim = int(self.clip.visual.output_dim)
        texts = [t for key in CLASS_NAMES for t in self.prompts[key]]
        prompt_class = [i for i, key in enumerate(CLASS_NAMES) for _ in self.prompts[key]]
        self.register_buffer("prompt_tokens", self.tokenizer(texts), persistent=False)
        self.register_buffer("prompt_class", torch.tensor(prompt_class), persistent=False)
        with torch.no_grad():
            self.register_buffer("class_text_embeddings", self.encode_prompts().detach().clone())
        if variant == "v":
            self.head = FlipVHead(self.clip.visual.transformer.width)
        if variant == "mcl":
            self.simclr_projector = simclr_projector(self.embed_dim, 8 * self.embed_dim, self.embed_dim // 2)
        if not text_tower:
            self.drop_text_tower()

    # --- towers -------------------------------------------------------------------------------------
    @property
    def visual(self) -> nn.Module:
        """The open_clip image tower."""
        return self.clip.visual

    @property
    def logit_scale(self) -> nn.Parameter:
        """CLIP's learnable log temperature; logits use ``logit_scale.exp()`` (capped at 100 as in CLIP)."""
        return self.clip.logit_scale

    @property
    def has_text_tower(self) -> bool:
        return has_text_tower(self.clip)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Projected image embedding, not normalised: (B, 3, H, W) -> (B, D)."""
        return self.clip.encode_image(images)

    def _require_text_tower(self, what: str) -> None:
        if not self.has_text_tower:
            raise RuntimeError(f"{what} needs the text tower, which was dropped (drop_text_tower)")

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Text embeddings (N, D), not normalised, for arbitrary texts (e.g. explanation prompts)."""
        self._require_text_tower("encode_texts")
        device = self.class_text_embeddings.device
        return self.clip.encode_text(self.tokenizer(list(texts)).to(device))

    def encode_prompt_embeddings(self) -> torch.Tensor:
        """Normalised embedding of every prompt, (P, D), rows ordered attack prompts then bona fide."""
        self._require_text_tower("encode_prompt_embeddings")
        return F.normalize(self.clip.encode_text(self.prompt_tokens), dim=-1)

    def class_embeddings_from(self, prompt_embeddings: torch.Tensor) -> torch.Tensor:
        """(P, D) normalised prompt embeddings -> (2, D): per-class mean, renormalised."""
        means = [prompt_embeddings[self.prompt_class == c].mean(dim=0) for c in range(len(CLASS_NAMES))]
        return F.normalize(torch.stack(means), dim=-1)

    def encode_prompts(self) -> torch.Tensor:
        """Class text embeddings (2, D) recomputed with the text tower (differentiable)."""
        return self.class_embeddings_from(self.encode_prompt_embeddings())

    @torch.no_grad()
    def refresh_class_text_embeddings(self) -> None:
        """Recompute the stored class text embeddings from the current text tower."""
        if self.has_text_tower:
            self.class_text_embeddings.copy_(self.encode_prompts())

    def drop_text_tower(self) -> None:
        """Delete the text encoder; inference keeps working from ``class_text_embeddings``."""
        if self.has_text_tower:
            self.refresh_class_text_embeddings()
        _drop_clip_text(self.clip)
        for name in ("prompt_tokens", "prompt_class"):
            if hasattr(self, name):
                delattr(self, name)
        self.tokenizer = None
        architecture = getattr(self, "architecture", None)
        if architecture is not None:
            architecture["kwargs"]["text_tower"] = False

    def _text_tower_trains(self) -> bool:
        return self.training and self.has_text_tower and any(
            p.requires_grad for p in text_tower_parameters(self.clip)
        )

    # --- heads --------------------------------------------------------------------------------------
    def class_text_embeddings_for_step(self) -> torch.Tensor:
        """(2, D): re-encoded with gradients while training a text tower (buffer refreshed), else the buffer."""
        if self._text_tower_trains():
            embeddings = self.encode_prompts()
            with torch.no_grad():
                self.class_text_embeddings.copy_(embeddings.detach())
            return embeddings
        return self.class_text_embeddings

    def logits_from_embeddings(self, image_embeddings: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
        """logit_scale * cos(image, class text): (B, D), (2, D) -> (B, 2)."""
        scale = self.logit_scale.exp().clamp(max=100.0)
        return scale * F.normalize(image_embeddings, dim=-1) @ class_embeddings.t()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images -> (B, 2) logits [attack, bona fide]."""
        if self.variant == "v":
            return self.head(pre_projection_features(self.visual, images))
        return self.logits_from_embeddings(self.encode_image(images), self.class_text_embeddings_for_step())

    def forward_naive(self, images: torch.Tensor) -> torch.Tensor:
        """FLIP-IT logits re-encoding every prompt on each call (the original FLIP inference path)."""
        return self.logits_from_embeddings(self.encode_image(images), self.encode_prompts())


def _build(variant: str, clip: str, pretrained: str | None, prompts: Any, text_tower: bool) -> FlipModel:
    return FlipModel(variant, clip=clip, pretrained=pretrained, prompts=prompts, text_tower=text_tower)


@MODELS.register("flip_v")
def flip_v(clip: str = "ViT-B-16", pretrained: str | None = None,
           prompts: dict[str, list[str]] | None = None, text_tower: bool = True) -> FlipModel:
    """FLIP-V: CLIP image tower + MLP head with normalised features and weights."""
    return _build("v", clip, pretrained, prompts, text_tower)


@MODELS.register("flip_it")
def flip_it(clip: str = "ViT-B-16", pretrained: str | None = None,
            prompts: dict[str, list[str]] | None = None, text_tower: bool = True) -> FlipModel:
    """FLIP-IT: cosine similarity to the mean prompt embedding of each class."""
    return _build("it", clip, pretrained, prompts, text_tower)


@MODELS.register("flip_mcl")
def flip_mcl(clip: str = "ViT-B-16", pretrained: str | None = None,
             prompts: dict[str, list[str]] | None = None, text_tower: bool = True) -> FlipModel:
    """FLIP-MCL: FLIP-IT + SimCLR projector (multimodal contrastive learning in training)."""
    return _build("mcl", clip, pretrained, prompts, text_tower)
