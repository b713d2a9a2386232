"""CLIPScore and the contrast test: how well does an image region support a text claim?

``clip_score`` is CLIPScore (Hessel, Holtzman, Forbes, Le Bras & Choi, "CLIPScore: A Reference-free
Evaluation Metric for Image Captioning", EMNLP 2021): ``w * max(cos(image, text), 0)`` with w = 2.5,
the text being prefixed with "A photo depicts" (``CLIPSCORE_PREFIX``, as in the paper).

CLIPScore alone has no scale a decision can rest on: an unrelated text still scores 0.5-0.8 with
real CLIP. The **contrast test** compares the claim with alternatives that would be true instead
(its negation, the same attribute's other values, or a user's contrast set) and turns CLIP's scaled
similarities into a distribution, ``softmax(logit_scale * cos)`` over [claim, alternatives...], as in
CLIP's zero-shot classification: P(supported) is the claim's share.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

CLIPSCORE_WEIGHT = 2.5
CLIPSCORE_PREFIX = "A photo depicts"


def with_prefix(text: str, prefix: str = CLIPSCORE_PREFIX) -> str:
    """``"A photo depicts The person wears glasses"``: CLIPScore's text prompt (CLIP's tokenizer
    lower-cases, so the claim's capital letter does not matter)."""
    text = text.strip()
    return f"{prefix} {text}" if prefix else text


def _as_2d(embeddings: torch.Tensor | np.ndarray) -> torch.Tensor:
    tensor = torch.as_tensor(embeddings, dtype=torch.float32)
    if tensor.ndim == 1:
        tensor = tensor[None]
    if tensor.ndim != 2:
        raise ValueError(f"embeddings must be (D,) or (N, D), got shape {tuple(tensor.shape)}")
    return tensor


def clip_score(image_embeddings: torch.Tensor | np.ndarray, text_embeddings: torch.Tensor | np.ndarray,
               weight: float = CLIPSCORE_WEIGHT) -> np.ndarray:
    """CLIPScore of every image-text pair: (N, D) images, (M, D) texts -> (N, M) float64.

    Embeddings need not be normalised; ``weight * max(cos, 0)`` per pair (Hessel et al. 2021).
    """
    images, texts = _as_2d(image_embeddings), _as_2d(text_embeddings)
    if images.shape[1] != texts.shape[1]:
        raise ValueError(f"image embeddings are {images.shape[1]}-d but text embeddings {texts.shape[1]}-d")
    cosine = F.normalize(images, dim=-1) @ F.normalize(texts, dim=-1).T
    return (weight * cosine.clamp(min=0.0)).double().numpy()


def cosine_similarity(image_embeddings: torch.Tensor | np.ndarray,
                      text_embeddings: torch.Tensor | np.ndarray) -> np.ndarray:
    """Cosine similarity of every image-text pair: (N, D), (M, D) -> (N, M) float64."""
    images, texts = _as_2d(image_embeddings), _as_2d(text_embeddings)
    return (F.normalize(images, dim=-1) @ F.normalize(texts, dim=-1).T).double().numpy()


def contrast_probability(image_embedding: torch.Tensor | np.ndarray, claim_embedding: torch.Tensor | np.ndarray,
                         alternative_embeddings: torch.Tensor | np.ndarray, logit_scale: float) -> float:
    """P(supported): the claim's softmax share among [claim, alternatives] at CLIP's ``logit_scale``.

    ``image_embedding`` (D,), ``claim_embedding`` (D,), ``alternative_embeddings`` (K, D) with K >= 1.
    """
    alternatives = _as_2d(alternative_embeddings)
    if alternatives.shape[0] == 0:
        raise ValueError("the contrast test needs at least one alternative to the claim")
    texts = torch.cat([_as_2d(claim_embedding), alternatives])
    logits = float(logit_scale) * torch.as_tensor(cosine_similarity(image_embedding, texts)[0])
    return float(torch.softmax(logits, dim=0)[0])
