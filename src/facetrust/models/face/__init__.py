"""Face-recognition backbones: image (B, 3, H, W) -> raw embedding (B, D).

Registered in ``facetrust.models`` (``create_model``): ``iresnet18/34/50`` (the ArcFace family),
``mobilefacenet`` (Chen et al. 2018), ``face_timm`` (any timm backbone with an embedding head) and
tiny ``test_*`` variants for tests. The embedding is returned un-normalised (as arcface_torch does)
so that the flip test-time augmentation can sum two embeddings before normalising; everything that
compares faces L2-normalises it. The margin head lives in training (``facetrust.tasks.face``) only.
"""

from __future__ import annotations

from facetrust.models.face import iresnet, mobilefacenet, timm_face  # noqa: F401 - register the builders
from facetrust.models.face._common import face_preprocess

__all__ = ["face_preprocess"]
