"""Identity data: ``<root>/<person>/<image>`` folders (LFW, CASIA-WebFace) and LFW ``pairs.txt``.

``import_identity_folders(root)`` builds a manifest (one row per image, ``subject_id`` = the folder
name; ``label`` 1 / ``attack_type`` none, as every face is bona fide here) and lists the identities
with one image, which cannot form a matched pair. ``read_pairs(path, root)`` parses LFW's View 2
format: a first line ``<folds> <n>``, then per fold ``n`` matched lines ``name n1 n2`` and ``n``
mismatched lines ``name1 n1 name2 n2`` (1-based image numbers, files ``name/name_%04d.jpg``); a first
line with one number (View 1, ``pairsDevTrain.txt``) is one fold. A malformed line is a ``DataError``
naming the file and the line. ``write_pairs`` writes the same format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from facetrust.data.io import IMAGE_EXTENSIONS
from facetrust.errors import DataError


@dataclass(frozen=True)
class Pair:
    """Two face images and whether they show the same person; ``fold`` is 0-based."""

    path_a: str
    path_b: str
    same: bool
    fold: int


@dataclass
class IdentityImport:
    manifest: pd.DataFrame
    singletons: list[str]  # identities with one image: they cannot form a matched pair

    def report(self) -> str:
        people = self.manifest["subject_id"].nunique()
        text = f"{len(self.manifest)} images of {people} identities"
        if self.singletons:
            shown = ", ".join(self.singletons[:5]) + (" ..." if len(self.singletons) > 5 else "")
            text += f"; {len(self.singletons)} identities have one image (no matched pair possible): {shown}"
        return text


def import_identity_folders(root: str | os.PathLike, domain: str | None = None, split: str = "train") -> IdentityImport:
    """One manifest row per image under ``root/<person>/``; ``domain`` defaults to the folder name."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: identity root folder not found (expected <root>/<person>/<image>)")
    rows, singletons = [], []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(f for f in person.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
        if len(images) == 1:
            singletons.append(person.name)
        for image in images:
            rows.append({"path": str(image.resolve()), "label": 1, "domain": domain or root.name, "split": split,
                         "video_id": f"{person.name}/{image.stem}", "subject_id": person.name, "attack_type": "none"})
    if not rows:
        raise DataError(f"{root}: no images in <person>/ sub-folders ({', '.join(IMAGE_EXTENSIONS)})")
    return IdentityImport(pd.DataFrame(rows), singletons)


def pair_file(root: Path, name: str, number: int, ext: str) -> str:
    return str(root / name / f"{name}_{number:04d}{ext}")


def _number(token: str, path: Path, line_no: int, line: str) -> int:
    try:
        value = int(token)
    except ValueError:
        raise DataError(f"{path}:{line_no}: {token!r} is not an image number in line {line!r}") from None
    if value < 1:
        raise DataError(f"{path}:{line_no}: image numbers are 1-based, got {value} in line {line!r}")
    return value


def read_pairs(path: str | os.PathLike, root: str | os.PathLike | None = None, ext: str = ".jpg") -> list[Pair]:
    """Parse an LFW pairs file; image paths are under ``root`` (default: the file's folder)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: pairs file not found")
    root = Path(root) if root is not None else path.parent
    lines = [(i + 1, line.strip()) for i, line in enumerate(path.read_text().splitlines())]
    lines = [(n, line) for n, line in lines if line]
    if not lines:
        raise DataError(f"{path}: empty pairs file")
    header_no, header = lines[0]
    tokens = header.split()
    try:
        folds, per_fold = (1, int(tokens[0])) if len(tokens) == 1 else (int(tokens[0]), int(tokens[1]))
        if len(tokens) > 2 or folds < 1 or per_fold < 1:
            raise ValueError
    except (ValueError, IndexError):
        raise DataError(f"{path}:{header_no}: first line {header!r} must be '<folds> <pairs per class>' "
                        "(e.g. '10 300') or '<pairs per class>'") from None
    body = lines[1:]
    if len(body) != 2 * folds * per_fold:
        raise DataError(f"{path}: header {header!r} announces {2 * folds * per_fold} pair lines, found {len(body)}")
    pairs = []
    for index, (line_no, line) in enumerate(body):
        fold, position = divmod(index, 2 * per_fold)
        matched = position < per_fold
        parts = line.split()
        if matched and len(parts) == 3:
            name, a, b = parts
            pairs.append(Pair(pair_file(root, name, _number(a, path, line_no, line), ext),
                              pair_file(root, name, _number(b, path, line_no, line), ext), True, fold))
        elif not matched and len(parts) == 4:
            name_a, a, name_b, b = parts
            pairs.append(Pair(pair_file(root, name_a, _number(a, path, line_no, line), ext),
                              pair_file(root, name_b, _number(b, path, line_no, line), ext), False, fold))
        else:
            expected = "'name n1 n2' (a matched pair)" if matched else "'name1 n1 name2 n2' (a mismatched pair)"
            raise DataError(f"{path}:{line_no}: expected {expected} in fold {fold + 1}, got {line!r}")
    return pairs


def write_pairs(path: str | os.PathLike, folds: list[tuple[list[tuple[str, int, int]], list[tuple[str, int, str, int]]]]) -> Path:
    """Write an LFW View 2 pairs file: per fold (matched [(name, n1, n2)], mismatched [(a, n1, b, n2)])."""
    per_fold = {len(m) for m, _ in folds} | {len(u) for _, u in folds}
    if len(per_fold) != 1:
        raise ValueError("every fold needs the same number of matched and mismatched pairs")
    lines = [f"{len(folds)}\t{per_fold.pop()}"]
    for matched, mismatched in folds:
        lines += [f"{n}\t{a}\t{b}" for n, a, b in matched]
        lines += [f"{n1}\t{a}\t{n2}\t{b}" for n1, a, n2, b in mismatched]
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path
