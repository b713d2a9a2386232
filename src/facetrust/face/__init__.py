"""Face recognition at inference: embedders (a trained backbone checkpoint, its ONNX export, or dlib's
ResNet), and galleries of enrolled people. Training lives in ``facetrust.tasks.face``."""

from __future__ import annotations

from facetrust._lazy import lazy_getattr

_LAZY = {
    "Embedder": "facetrust.face.embedder",
    "FaceEmbedding": "facetrust.face.embedder",
    "load_embedder": "facetrust.face.embedder",
    "Gallery": "facetrust.face.gallery",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY)
