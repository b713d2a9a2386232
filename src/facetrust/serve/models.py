"""The models a service holds, loaded once at start, and the small interfaces it needs from each.

* trust models (``--fas``, ``--deepfake``): an exported ONNX folder (``model.onnx``) is preferred for
  scoring; a PyTorch checkpoint folder (``model.safetensors``) is accepted and is also what
  ``explain=`` needs (a folder holding both scores with ONNX and explains with PyTorch);
* a face model (``--face`` + ``--gallery``): anything with ``embed(image, box) -> (D,) vector`` and a
  gallery with ``identify(vector) -> (name or None, similarity)``;
* a claims model (``--clip``): anything with ``verify(image, claims) -> list[dict]``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class FaceModel(Protocol):
    """A face embedder; ``threshold`` is its cosine-similarity threshold for "same person"."""

    name: str
    threshold: float

    def embed(self, image: np.ndarray, box: Any) -> np.ndarray: ...  # (D,) L2-normalised


class Gallery(Protocol):
    def identify(self, embedding: np.ndarray) -> tuple[str | None, float]: ...  # None = unknown

    def __len__(self) -> int: ...


class ClaimsModel(Protocol):
    name: str

    def verify(self, image: np.ndarray, claims: list[str]) -> list[dict[str, Any]]: ...


def weights_record(config: dict[str, Any]) -> tuple[str | None, str | None]:
    """(file name, SHA-256) of the weights a config records: model.onnx first, else model.safetensors."""
    files = config.get("files", {})
    for name in ("model.onnx", "model.safetensors"):
        if name in files:
            return name, files[name].get("sha256")
    return None, None


@dataclass
class TrustModel:
    """A binary trust model (fas or deepfake): the predictor that scores, and the module that explains."""

    role: str
    path: Path
    predictor: Any
    explainable: Any = None  # torch nn.Module with .preprocess when a PyTorch checkpoint is available
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        return "onnxruntime" if (self.path / "model.onnx").is_file() else "pytorch"

    def describe(self) -> dict[str, Any]:
        file, sha256 = weights_record(self.config)
        preprocess = self.config.get("preprocess", {})
        return {
            "role": self.role,
            "name": self.path.name,
            "architecture": self.config.get("architecture", {}).get("name"),
            "task": self.config.get("task", "fas" if self.role == "fas" else self.role),
            "backend": self.backend,
            "precision": self.config.get("export", {}).get("precision") if self.backend == "onnxruntime" else "fp32",
            "weights": file,
            "sha256": sha256,
            "threshold": self.predictor.threshold,
            "threshold_strategy": self.config.get("threshold_strategy"),
            "input_size": list(preprocess.get("input_size", [])),
            "crop": self.config.get("crop"),
            "class_names": list(self.config.get("class_names", [])),
            "explain": self.explainable is not None,
        }


def load_trust_model(path: str | os.PathLike, role: str, device: str = "cpu") -> TrustModel:
    """Load ``--fas``/``--deepfake``: ONNX for scoring when the folder has it, PyTorch for explain."""
    import facetrust
    from facetrust.checkpoint import read_config

    folder = Path(path)
    config = read_config(folder)  # clear CheckpointError for a missing or foreign folder
    predictor = facetrust.load(folder, device=device)
    explainable = getattr(predictor, "model", None)
    if explainable is None and (folder / "model.safetensors").is_file():
        from facetrust.checkpoint import load_model

        explainable = load_model(folder, device=device)
    config = getattr(predictor, "config", None) or config
    return TrustModel(role, folder, predictor, explainable, config)


class EmbedderFaceModel:
    """``facetrust.face``'s embedder behind ``FaceModel``: the face aligned from its box, then embedded."""

    def __init__(self, embedder: Any) -> None:
        self.embedder, self.name = embedder, str(embedder.name)
        self.threshold, self.model_hash = float(embedder.threshold), embedder.model_hash
        self.threshold_strategy = getattr(embedder, "threshold_strategy", None)

    def embed(self, image: np.ndarray, box: Any) -> np.ndarray:
        return self.embedder.embed_aligned([self.embedder.align(image, box)])[0]


class FaceGallery:
    """``facetrust.face.gallery.Gallery`` behind ``Gallery``: best match at the model's threshold."""

    def __init__(self, gallery: Any, threshold: float) -> None:
        self.gallery, self.threshold = gallery, threshold

    def identify(self, embedding: np.ndarray) -> tuple[str | None, float]:
        match = self.gallery.identify(embedding, self.threshold)
        known = match["similarity"] >= self.threshold
        return (match["best_match"] if known else None), float(match["similarity"])

    def __len__(self) -> int:
        return len(self.gallery.names)


def load_face_model(checkpoint: str | os.PathLike, gallery: str | os.PathLike | None) -> tuple[FaceModel, Gallery | None]:
    """``--face CKPT|dlib-resnet [--gallery DIR]`` through ``facetrust.face`` (gallery made by the same model)."""
    from facetrust.face.embedder import load_embedder
    from facetrust.face.gallery import Gallery as StoredGallery

    model = EmbedderFaceModel(load_embedder(checkpoint))
    if gallery is None:
        return model, None
    stored = StoredGallery.load(gallery)
    stored.check_model(model.model_hash, model.name, gallery)
    return model, FaceGallery(stored, model.threshold)


def load_claims_model(checkpoint: str | os.PathLike) -> ClaimsModel:
    """``--clip CKPT`` through ``facetrust.claims`` (claim verification, issue 19)."""
    from facetrust.claims.serving import load_claims_model as load

    return load(checkpoint)
