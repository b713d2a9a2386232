"""Embedders: face image -> L2-normalised embedding, with detection and alignment.

``load_embedder(spec)`` takes ``dlib-resnet`` (dlib's ResNet, ``facetrust.face.dlib_resnet``), a
checkpoint folder trained with ``task: face`` (PyTorch), or its ONNX export folder (ONNX Runtime).
Every embedding is the insightface test-time rule: the embedding of the aligned face plus that of its
horizontal flip, L2-normalised. Faces are compared by cosine similarity; ``threshold`` is the
model's verification threshold on that similarity (chosen on training-side pairs at training time).
A face-less image gives no embedding (an empty list), never an embedding of the background.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.errors import CheckpointError

DLIB_RESNET = "dlib-resnet"


@dataclass
class FaceEmbedding:
    """One face of an image: its box (None when the image was given already aligned) and embedding."""

    box: Any
    embedding: np.ndarray  # (D,) float32, unit norm

    def box_list(self) -> list[float] | None:
        return None if self.box is None else [round(float(v), 1) for v in (self.box.x, self.box.y, self.box.w, self.box.h)]


def normalise(embeddings: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation, float32."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    return (embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def create_face_detector(name: str):
    """The shared detector by name (``facetrust.faces`` when present, else ``facetrust.data.faces``)."""
    try:
        from facetrust.faces import create_detector
    except ImportError:
        from facetrust.data.faces import create_detector
    return create_detector(name)


def default_detector() -> str:
    try:
        from facetrust.faces import DEFAULT_DETECTOR

        return str(DEFAULT_DETECTOR)
    except ImportError:
        return "cascade"


class Embedder:
    """Base class: subclasses set ``name``, ``model_hash``, ``threshold`` and implement ``embed_aligned``."""

    name: str
    model_hash: str
    threshold: float
    threshold_strategy: str
    size: int
    detector_name: str

    def embed_aligned(self, faces: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
        """(N, D) normalised flip-fused embeddings of aligned RGB uint8 faces."""
        raise NotImplementedError

    def detect(self, image: np.ndarray) -> list:
        if getattr(self, "_detector", None) is None:
            self._detector = create_face_detector(self.detector_name)
        return self._detector.detect(image)

    def align(self, image: np.ndarray, box) -> np.ndarray:
        from facetrust.faces.align import align_face

        return align_face(image, box, self.size)

    def embed_faces(self, image: np.ndarray, aligned: bool = False) -> list[FaceEmbedding]:
        """Every face of an RGB image (largest first), or the whole image when ``aligned``."""
        if aligned:
            return [FaceEmbedding(None, self.embed_aligned([image])[0])]
        boxes = sorted(self.detect(image), key=lambda b: -b.w * b.h)
        if not boxes:
            return []
        embeddings = self.embed_aligned([self.align(image, box) for box in boxes])
        return [FaceEmbedding(box, e) for box, e in zip(boxes, embeddings, strict=True)]

    def describe(self) -> dict[str, Any]:
        return {"model": self.name, "model_hash": self.model_hash, "threshold": self.threshold,
                "threshold_strategy": self.threshold_strategy}


class BackboneEmbedder(Embedder):
    """A face backbone behind ``run(batch (B, C, H, W) float32) -> (B, D)``: PyTorch or ONNX Runtime."""

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], config: dict[str, Any], name: str, model_hash: str) -> None:
        self.run, self.config, self.name, self.model_hash = run, config, name, model_hash
        self.preprocess = config["preprocess"]
        self.size = int(self.preprocess["input_size"][-1])
        extra = config.get("extra", {})
        self.detector_name = (extra.get("alignment") or {}).get("detector") or default_detector()
        if config.get("threshold") is None:
            raise CheckpointError(f"{name}: the checkpoint records no verification threshold")
        self.threshold = float(config["threshold"])
        self.threshold_strategy = str(config.get("threshold_strategy"))

    def embed_aligned(self, faces: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
        from facetrust.predictor import preprocess_images

        out = []
        for start in range(0, len(faces), batch_size):
            batch = preprocess_images(faces[start : start + batch_size], self.preprocess)
            flipped = np.ascontiguousarray(batch[..., ::-1])
            out.append(np.asarray(self.run(batch), np.float64) + np.asarray(self.run(flipped), np.float64))
        return normalise(np.concatenate(out)) if out else np.empty((0, 0), np.float32)


def _check_face_config(config: dict[str, Any], folder: Path) -> None:
    task = config.get("task") or config.get("extra", {}).get("task")
    if task != "face":
        raise CheckpointError(f"{folder} is a {task or 'fas'} model, not a face-recognition model "
                              "(train one with `task: face`, or use --model dlib-resnet)")


def torch_embedder(folder: str | os.PathLike) -> BackboneEmbedder:
    import torch

    from facetrust.checkpoint import WEIGHTS, load_model

    folder = Path(folder)
    model = load_model(folder)
    config = model.checkpoint_config
    _check_face_config(config, folder)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(batch)).float().numpy()

    embedder = BackboneEmbedder(run, config, str(folder), config["files"][WEIGHTS]["sha256"])
    embedder.model = model
    return embedder


def onnx_embedder(folder: str | os.PathLike, threads: int | None = None) -> BackboneEmbedder:
    from facetrust.checkpoint import read_config, verify_file
    from facetrust.export.runtime import ONNX_FILE, make_session

    folder = Path(folder)
    config = read_config(folder)
    _check_face_config(config, folder)
    session = make_session(verify_file(folder, ONNX_FILE, config["files"][ONNX_FILE]), threads=threads)
    input_name = session.get_inputs()[0].name
    model_hash = config.get("export", {}).get("source_weights_sha256") or config["files"][ONNX_FILE]["sha256"]
    return BackboneEmbedder(lambda batch: session.run(None, {input_name: batch})[0], config, str(folder), model_hash)


def load_embedder(spec: str | os.PathLike, detector: str | None = None) -> Embedder:
    """``dlib-resnet``, a face checkpoint folder, or an exported ONNX folder."""
    if str(spec) == DLIB_RESNET:
        from facetrust.face.dlib_resnet import DlibResnetEmbedder

        embedder: Embedder = DlibResnetEmbedder()
    else:
        folder = Path(spec)
        if not folder.exists():
            raise CheckpointError(f"--model {spec}: no such folder; give a face checkpoint, its ONNX export "
                                  f"folder, or {DLIB_RESNET}")
        embedder = onnx_embedder(folder) if (folder / "model.onnx").is_file() else torch_embedder(folder)
    if detector:
        embedder.detector_name = detector
        embedder._detector = None
    return embedder
