"""Manifests: one table per data set, one row per image.

Columns (DESIGN, Conventions): ``path`` (relative to the manifest's folder), ``label`` (1 = bona fide,
0 = attack), ``domain``, ``split`` (train / val / test), ``video_id``, ``subject_id``,
``attack_type`` (``none`` exactly for bona fide rows). Extra columns are kept. CSV or Parquet.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from facetrust.atomic import atomic_path
from facetrust.errors import DataError

REQUIRED_COLUMNS = ("path", "label", "domain", "split", "video_id", "subject_id", "attack_type")
SPLITS = ("train", "val", "test")
BONA_FIDE = 1
ATTACK = 0


def _need_parquet_engine(path: Path) -> None:
    import importlib.util

    if not any(importlib.util.find_spec(m) for m in ("pyarrow", "fastparquet")):
        raise DataError(f"{path}: Parquet manifests need pyarrow (pip install pyarrow); or use a .csv manifest")


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: manifest not found")
    try:
        if path.suffix.lower() == ".parquet":
            _need_parquet_engine(path)
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={"path": str, "domain": str, "split": str, "video_id": str,
                                        "subject_id": str, "attack_type": str}, keep_default_na=False)
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: cannot parse the manifest ({err})") from err


def validate_manifest(df: pd.DataFrame, source: str = "manifest") -> pd.DataFrame:
    """Check columns and values; returns a copy with ``label`` as int. Errors name the row (0-based)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}; a manifest needs {list(REQUIRED_COLUMNS)}")
    df = df.copy()
    for column in REQUIRED_COLUMNS:
        if column == "label":
            continue
        empty = df[column].isna() | (df[column].astype(str).str.strip() == "")
        if empty.any():
            raise DataError(f"{source}: row {int(empty.to_numpy().nonzero()[0][0])}: empty {column!r}")
        df[column] = df[column].astype(str)
    labels = pd.to_numeric(df["label"], errors="coerce")
    bad = labels.isna() | ~labels.isin([0, 1])
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(f"{source}: row {row}: label {str(df['label'].iloc[row])!r} is not 0 (attack) or 1 (bona fide)")
    df["label"] = labels.astype(int)
    is_none = df["attack_type"] == "none"
    bad = is_none != (df["label"] == BONA_FIDE)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(
            f"{source}: row {row}: label {df['label'].iloc[row]} with attack_type "
            f"{df['attack_type'].iloc[row]!r}; attack_type must be 'none' exactly for bona fide (label 1)"
        )
    if "manipulation" in df.columns:  # deepfake manifests: the manipulation method, "none" for real
        manipulation = df["manipulation"].astype(str).str.strip()
        bad = (manipulation == "") | (manipulation == "nan") | ((manipulation == "none") != (df["label"] == BONA_FIDE))
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise DataError(
                f"{source}: row {row}: label {df['label'].iloc[row]} with manipulation "
                f"{str(df['manipulation'].iloc[row])!r}; manipulation must be 'none' exactly for real (label 1) "
                "and name the method (e.g. sbi, swap, Deepfakes) for fakes"
            )
    bad = ~df["split"].isin(SPLITS)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(f"{source}: row {row}: split {df['split'].iloc[row]!r} is not one of {list(SPLITS)}")
    return df


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Load and validate a manifest; adds ``abs_path`` (each image's absolute path)."""
    path = Path(path).resolve()
    df = validate_manifest(_read_table(path), source=str(path))
    root = path.parent
    df["abs_path"] = [os.path.normpath(p if os.path.isabs(p) else root / p) for p in df["path"]]
    df.attrs["manifest_path"] = str(path)
    return df.reset_index(drop=True)


def write_manifest(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Validate and write a manifest; paths are made relative to its folder (``abs_path`` wins)."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    df = df.copy()
    if "abs_path" in df.columns:
        df["path"] = df["abs_path"]
        df = df.drop(columns=["abs_path"])
    df["path"] = [_relative(p, path.parent) for p in df["path"]]
    df = validate_manifest(df, source=str(path))
    columns = list(REQUIRED_COLUMNS) + [c for c in df.columns if c not in REQUIRED_COLUMNS]
    df = df[columns]
    if path.suffix.lower() == ".parquet":
        _need_parquet_engine(path)
        with atomic_path(path) as tmp:  # a reader never sees half a manifest
            df.to_parquet(tmp, index=False)
    else:
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False, lineterminator="\n")
    return path


def _relative(p: str, root: Path) -> str:
    p = str(p)
    if not os.path.isabs(p):
        return Path(p).as_posix()
    return Path(os.path.relpath(p, root)).as_posix()
