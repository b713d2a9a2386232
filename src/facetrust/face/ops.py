"""enroll / identify / verify on image files: the library behind the three commands.

Each image is read upright (``read_image``: EXIF orientation applied); a file that cannot be read or
has no face becomes a record with an ``error`` and the batch goes on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from facetrust.errors import DataError, FacetrustError
from facetrust.face.embedder import Embedder, FaceEmbedding
from facetrust.face.gallery import Gallery

NO_FACE = "no face found"


def faces_of(embedder: Embedder, path: str | os.PathLike, aligned: bool = False) -> list[FaceEmbedding]:
    """Every face of an image file (largest first); raises DataError for an unreadable file."""
    from facetrust.data.io import read_image

    return embedder.embed_faces(read_image(path), aligned=aligned)


def enroll(gallery_dir: str | os.PathLike, name: str, images: list[str], embedder: Embedder,
           aligned: bool = False) -> dict[str, Any]:
    """Add the largest face of each image to ``name`` in the gallery (created when missing)."""
    if not name.strip():
        raise DataError("enroll: the person's NAME is empty")
    folder = Path(gallery_dir)
    gallery = Gallery.load(folder) if (folder / "gallery.json").is_file() else None
    if gallery is not None:
        gallery.check_model(embedder.model_hash, embedder.name, folder)
    records, embeddings = [], []
    for path in images:
        try:
            faces = faces_of(embedder, path, aligned)
        except FacetrustError as err:
            records.append({"image": str(path), "error": str(err)})
            continue
        if not faces:
            records.append({"image": str(path), "error": NO_FACE})
            continue
        embeddings.append(faces[0].embedding)
        records.append({"image": str(path), "box": faces[0].box_list(), "faces": len(faces)})
    if not embeddings:
        raise DataError(f"enroll {name!r}: no face in any of the {len(images)} image(s); nothing enrolled")
    if gallery is None:
        gallery = Gallery(embedder.name, embedder.model_hash, int(embeddings[0].shape[0]))
    total = gallery.add(name, embeddings)
    gallery.save(folder)
    return {"gallery": str(folder), "name": name, "added": len(embeddings), "images_of_person": total,
            "people": len(gallery.names), "images": records, **embedder.describe()}


def identify(gallery_dir: str | os.PathLike, images: list[str], embedder: Embedder, aligned: bool = False,
             threshold: float | None = None) -> dict[str, Any]:
    """1:N for every face of every image; "unknown" below the threshold."""
    gallery = Gallery.load(gallery_dir)
    gallery.check_model(embedder.model_hash, embedder.name, gallery_dir)
    threshold = embedder.threshold if threshold is None else float(threshold)
    records = []
    for path in images:
        try:
            faces = faces_of(embedder, path, aligned)
        except FacetrustError as err:
            records.append({"image": str(path), "error": str(err), "faces": []})
            continue
        records.append({"image": str(path), **({"error": NO_FACE} if not faces else {}),
                        "faces": [{"box": f.box_list(), **gallery.identify(f.embedding, threshold)} for f in faces]})
    return {"gallery": str(gallery_dir), "people": len(gallery.names), "images": records, **embedder.describe(),
            "threshold": threshold}


def verify(image_a: str, image_b: str, embedder: Embedder, aligned: bool = False,
           threshold: float | None = None) -> dict[str, Any]:
    """1:1 on the largest face of each image: {"same", "similarity", "threshold"}."""
    threshold = embedder.threshold if threshold is None else float(threshold)
    embeddings = []
    for path in (image_a, image_b):
        faces = faces_of(embedder, path, aligned)
        if not faces:
            raise DataError(f"{path}: {NO_FACE}; verify needs one face in each image")
        embeddings.append(faces[0].embedding)
    similarity = float(embeddings[0] @ embeddings[1])
    return {"same": bool(similarity >= threshold), "similarity": similarity, "threshold": threshold}
