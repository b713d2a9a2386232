"""face-id-sim: an embedded identity benchmark generated from the face photos scikit-image ships.

Each of the 100 face crops of ``skimage.data.lfw_subset()`` (25x25 grayscale, from LFW) is one
identity, rendered in many views: a pose-like warp (rotation, scale, shift, a horizontal
foreshortening as from a turned head), an expression-like smooth deformation of the lower face,
lighting (gain, gamma, a side gradient), a colour cast, an occluding band or patch, blur, sensor noise
and JPEG. Identities are split into training identities and pair identities, disjoint; the pair
identities are spread over 10 folds (disjoint across folds, as in LFW View 2) and ``pairs.txt`` in
LFW's format lists matched and mismatched pairs per fold. ``train_pairs.txt`` is built the same way
from held-out views (``split == "val"``) of the training identities: the threshold is chosen there.

The sources are 25x25 pixels, so this is a **pipeline benchmark** (data, training, margin losses, the
LFW protocol, export and the commands all run on it and must learn), not a face-recognition
benchmark: its accuracies say nothing about accuracy on real faces. Note that the crops of
``lfw_subset`` are not guaranteed to show 100 different people.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from facetrust.data.identity import write_pairs
from facetrust.errors import DataError

DOMAIN = "face-id-sim"
FOLDS = 10


def _faces() -> np.ndarray:
    import skimage.data

    return skimage.data.lfw_subset()[:100]  # (100, 25, 25) in [0, 1]; the last 100 are non-faces


def render_view(face: np.ndarray, tint: np.ndarray, size: int, rng: np.random.Generator, clean: bool = False) -> np.ndarray:
    """One RGB uint8 view (size, size, 3) of a 25x25 grayscale face in [0, 1]."""
    import cv2

    image = cv2.resize(face.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    if not clean:
        # expression-like: a smooth vertical displacement of the lower face (mouth, jaw)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        amplitude = rng.uniform(-0.04, 0.04) * size
        bump = np.exp(-(((xx - size / 2) / (0.25 * size)) ** 2 + ((yy - 0.75 * size) / (0.15 * size)) ** 2))
        image = cv2.remap(image, xx, yy + amplitude * bump, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        # pose-like: rotation, scale, shift and a horizontal foreshortening towards one side
        angle, scale = rng.uniform(-12, 12), rng.uniform(0.9, 1.1)
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        matrix[:, 2] += rng.uniform(-0.05, 0.05, 2) * size
        turn = rng.uniform(-0.12, 0.12)
        matrix[0, :2] *= 1.0 - abs(turn)
        matrix[0, 2] += turn * size / 2
        image = cv2.warpAffine(image, matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
        # lighting: gain, gamma, a side gradient
        gradient = np.linspace(-1, 1, size, dtype=np.float32)[None, :] * rng.uniform(-0.25, 0.25)
        image = np.clip(image * rng.uniform(0.75, 1.25) + gradient, 0, 1) ** rng.uniform(0.75, 1.35)
    rgb = image[..., None] * tint[None, None, :]
    if not clean:
        rgb = rgb * rng.uniform(0.9, 1.1, 3)[None, None, :]  # colour cast
        if rng.random() < 0.3:  # occlusion: a band at eye level (glasses) or a random patch
            value = rng.uniform(0, 0.3) if rng.random() < 0.5 else rng.uniform(0.5, 1.0)
            if rng.random() < 0.5:
                top = int(rng.uniform(0.28, 0.4) * size)
                rgb[top : top + max(2, size // 8)] = value
            else:
                h, w = (rng.uniform(0.15, 0.3, 2) * size).astype(int)
                y, x = rng.integers(0, size - h), rng.integers(0, size - w)
                rgb[y : y + h, x : x + w] = value
        if rng.random() < 0.5:
            rgb = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), rng.uniform(0.3, 1.2) * size / 64)
        rgb = rgb + rng.normal(0, rng.uniform(0, 0.03), rgb.shape)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def _fold_pairs(ids: list[str], views: dict[str, list[int]], per_fold: int, rng: np.random.Generator):
    """Identities spread over FOLDS folds; per fold ``per_fold`` matched and mismatched pairs."""
    folds = [ids[f::FOLDS] for f in range(FOLDS)]
    matched_all = [[(n, a, b) for n in fold for i, a in enumerate(views[n]) for b in views[n][i + 1 :]] for fold in folds]
    mismatched_all = [[(n1, a, n2, b) for i, n1 in enumerate(fold) for n2 in fold[i + 1 :] for a in views[n1] for b in views[n2]]
                      for fold in folds]
    count = min(per_fold, *(len(m) for m in matched_all), *(len(u) for u in mismatched_all))
    if count < 1:
        raise DataError("face-id-sim: too few identities or views per fold to form matched and mismatched pairs")
    out = []
    for matched, mismatched in zip(matched_all, mismatched_all, strict=True):
        mi = rng.choice(len(matched), count, replace=False)
        ui = rng.choice(len(mismatched), count, replace=False)
        out.append(([matched[i] for i in sorted(mi)], [mismatched[i] for i in sorted(ui)]))
    return out


def make_face_id_sim(out_dir: str | os.PathLike, seed: int = 0, image_size: int = 112, identities: int = 100,
                     train_identities: int = 60, views: int = 10, val_views: int = 3, pairs_per_fold: int = 30) -> Path:
    """Write face-id-sim to ``out_dir`` (images/<id>/<id>_%04d.jpg, manifest.csv, pairs.txt,
    train_pairs.txt) and return the manifest's path. A seed gives the same files."""
    import cv2

    from facetrust.data.manifest import write_manifest

    faces = _faces()
    if not 2 * FOLDS <= identities <= len(faces) or not 2 * FOLDS <= train_identities <= identities - 2 * FOLDS:
        raise DataError(f"face-id-sim: identities must be in [{2 * FOLDS}, {len(faces)}] with at least {2 * FOLDS} "
                        f"training and {2 * FOLDS} pair identities; got {identities} and {train_identities}")
    if views < 2 or not 2 <= val_views < views:
        raise DataError(f"face-id-sim: need views >= 3 and 2 <= val_views < views; got {views}, {val_views}")
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(len(faces))[:identities]
    names = [f"id{int(i):03d}" for i in chosen]
    train_names, pair_names = names[:train_identities], names[train_identities:]
    root = Path(out_dir)
    rows = []
    for index, name in zip(chosen, names, strict=True):
        person_rng = np.random.default_rng([seed, int(index)])
        tint = np.array([1.0, 0.82, 0.68]) * person_rng.uniform(0.8, 1.05) + person_rng.uniform(-0.06, 0.06, 3)
        folder = root / "images" / name
        folder.mkdir(parents=True, exist_ok=True)
        for view in range(1, views + 1):
            image = render_view(faces[index], np.clip(tint, 0.3, 1.1), image_size, person_rng)
            quality = int(person_rng.integers(45, 96))
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
            path = folder / f"{name}_{view:04d}.jpg"
            path.write_bytes(data.tobytes())
            split = "test" if name in pair_names else ("val" if view <= val_views else "train")
            rows.append({"path": str(path.resolve()), "label": 1, "domain": DOMAIN, "split": split,
                         "video_id": f"{name}/{view:04d}", "subject_id": name, "attack_type": "none", "view": view})
    pair_rng = np.random.default_rng([seed, 1])
    all_views = list(range(1, views + 1))
    write_pairs(root / "pairs.txt", _fold_pairs(pair_names, {n: all_views for n in pair_names}, pairs_per_fold, pair_rng))
    held_out = list(range(1, val_views + 1))
    write_pairs(root / "train_pairs.txt",
                _fold_pairs(train_names, {n: held_out for n in train_names}, pairs_per_fold, pair_rng))
    (root / "README.txt").write_text(
        "face-id-sim: a pipeline benchmark generated from scikit-image's 25x25 lfw_subset faces, not a "
        "face-recognition benchmark.\npairs.txt: pair identities (split test), LFW View 2 format, 10 folds; "
        "train_pairs.txt: held-out views of the training identities (split val).\n")
    return write_manifest(pd.DataFrame(rows), root / "manifest.csv")
