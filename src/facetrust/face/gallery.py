"""A gallery of enrolled people: safetensors (embeddings) + JSON (names, model hash), never a pickle.

Per person the gallery keeps the sum of their normalised embeddings and the count, so enrolling
more images later updates the mean; identification compares a face with each person's normalised
mean embedding by cosine similarity and answers "unknown" below the model's threshold. A gallery
records the hash of the model that made it; using it with another model is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.errors import DataError

TENSORS = "gallery.safetensors"
INDEX = "gallery.json"
FORMAT = "facetrust-gallery"
UNKNOWN = "unknown"


class Gallery:
    def __init__(self, model: str, model_hash: str, dim: int) -> None:
        self.model, self.model_hash, self.dim = model, model_hash, dim
        self.names: list[str] = []
        self.sums = np.zeros((0, dim), np.float64)
        self.counts: list[int] = []

    # --- files ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, folder: str | os.PathLike) -> Gallery:
        from safetensors.numpy import load_file

        folder = Path(folder)
        index_path = folder / INDEX
        if not index_path.is_file() or not (folder / TENSORS).is_file():
            raise DataError(f"{folder}: not a gallery (needs {INDEX} and {TENSORS}); create one with "
                            "`facetrust enroll GALLERY NAME IMAGE...`")
        try:
            index = json.loads(index_path.read_text())
            tensors = load_file(str(folder / TENSORS))
        except Exception as err:  # noqa: BLE001 - JSON, safetensors and OS errors alike mean a damaged gallery
            raise DataError(f"{folder}: the gallery files are corrupted ({err})") from err
        if index.get("format") != FORMAT:
            raise DataError(f"{index_path} is not a facetrust gallery index")
        gallery = cls(index["model"], index["model_hash"], int(index["dim"]))
        gallery.names, gallery.counts = list(index["names"]), [int(c) for c in index["counts"]]
        gallery.sums = tensors["sums"].astype(np.float64)
        if gallery.sums.shape != (len(gallery.names), gallery.dim):
            raise DataError(f"{folder}: {TENSORS} holds {gallery.sums.shape}, the index {len(gallery.names)} people")
        return gallery

    def save(self, folder: str | os.PathLike) -> Path:
        from safetensors.numpy import save_file

        from facetrust.atomic import atomic_folder

        folder = Path(folder)
        with atomic_folder(folder) as building:  # the old gallery or the new one, never a mix
            save_file({"sums": self.sums.astype(np.float32)}, str(building / TENSORS))
            index = {"format": FORMAT, "model": self.model, "model_hash": self.model_hash, "dim": self.dim,
                     "names": self.names, "counts": self.counts}
            (building / INDEX).write_text(json.dumps(index, indent=2) + "\n")
        return folder

    def check_model(self, model_hash: str, model: str, folder: str | os.PathLike = "gallery") -> None:
        if model_hash != self.model_hash:
            raise DataError(f"{folder} was enrolled with model {self.model} (hash {self.model_hash[:12]}), not "
                            f"{model} (hash {model_hash[:12]}); embeddings of different models cannot be "
                            "compared. Use the same --model or enroll into a new gallery")

    # --- people ------------------------------------------------------------------------------
    def add(self, name: str, embeddings: np.ndarray) -> int:
        """Add normalised (N, D) embeddings to ``name`` (created if new); returns their total count."""
        embeddings = np.asarray(embeddings, np.float64).reshape(-1, self.dim)
        if name in self.names:
            i = self.names.index(name)
            self.sums[i] += embeddings.sum(axis=0)
            self.counts[i] += len(embeddings)
            return self.counts[i]
        self.names.append(name)
        self.sums = np.vstack([self.sums, embeddings.sum(axis=0, keepdims=True)])
        self.counts.append(len(embeddings))
        return len(embeddings)

    def means(self) -> np.ndarray:
        """(P, D) normalised mean embedding per person."""
        return self.sums / np.maximum(np.linalg.norm(self.sums, axis=1, keepdims=True), 1e-12)

    def identify(self, embedding: np.ndarray, threshold: float) -> dict[str, Any]:
        """Best match of one normalised embedding: name (or "unknown"), similarity, runner-up."""
        if not self.names:
            raise DataError("the gallery is empty; enroll people first")
        similarities = self.means() @ np.asarray(embedding, np.float64)
        order = np.argsort(-similarities)
        best = int(order[0])
        similarity = float(similarities[best])
        return {"identity": self.names[best] if similarity >= threshold else UNKNOWN,
                "best_match": self.names[best], "similarity": similarity, "threshold": float(threshold),
                "candidates": [{"name": self.names[i], "similarity": float(similarities[i])} for i in order[:3]]}
