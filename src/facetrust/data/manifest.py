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


def validate_manifest(df: pd.DataFrame, source: str = "manifest", max_listed: int = 20) -> pd.DataFrame:
    """Check columns and values; returns a copy with ``label`` as int.

    Every problem is reported at once (up to ``max_listed``), each naming the row (0-based, after the
    header) and, for a CSV file, its line in the file (row N = line N + 2).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}; a manifest needs {list(REQUIRED_COLUMNS)}")
    df = df.copy()
    problems: list[str] = []
    csv = str(source).lower().endswith(".csv")

    def where(row: int) -> str:
        return f"line {row + 2}, row {row}" if csv else f"row {row}"

    def each(mask) -> list[int]:
        return [int(i) for i in mask.to_numpy().nonzero()[0]]

    for column in REQUIRED_COLUMNS:
        if column == "label":
            continue
        empty = df[column].isna() | (df[column].astype(str).str.strip() == "")
        problems += [f"{where(row)}: empty {column!r}" for row in each(empty)]
        df[column] = df[column].astype(str)
    labels = pd.to_numeric(df["label"], errors="coerce")
    bad_label = labels.isna() | ~labels.isin([0, 1])
    problems += [f"{where(row)}: label {str(df['label'].iloc[row])!r} is not 0 (attack) or 1 (bona fide)"
                 for row in each(bad_label)]
    df["label"] = labels.fillna(-1).astype(int)
    is_none = df["attack_type"] == "none"
    bad = (is_none != (df["label"] == BONA_FIDE)) & ~bad_label
    problems += [f"{where(row)}: label {df['label'].iloc[row]} with attack_type {df['attack_type'].iloc[row]!r}; "
                 "attack_type must be 'none' exactly for bona fide (label 1)" for row in each(bad)]
    if "manipulation" in df.columns:  # deepfake manifests: the manipulation method, "none" for real
        manipulation = df["manipulation"].astype(str).str.strip()
        bad = ((manipulation == "") | (manipulation == "nan")
               | ((manipulation == "none") != (df["label"] == BONA_FIDE))) & ~bad_label
        problems += [f"{where(row)}: label {df['label'].iloc[row]} with manipulation "
                     f"{str(df['manipulation'].iloc[row])!r}; manipulation must be 'none' exactly for real "
                     "(label 1) and name the method (e.g. sbi, swap, Deepfakes) for fakes" for row in each(bad)]
    bad = ~df["split"].isin(SPLITS)
    problems += [f"{where(row)}: split {df['split'].iloc[row]!r} is not one of {list(SPLITS)}" for row in each(bad)]
    if problems:
        more = f"; ... and {len(problems) - max_listed} more" if len(problems) > max_listed else ""
        err = DataError(f"{source}: {problems[0]}" if len(problems) == 1 else
                        f"{source}: {len(problems)} problems: " + "; ".join(problems[:max_listed]) + more)
        err.problems = [f"{source}: {p}" for p in problems[:max_listed]] + (
            [f"{source}: ... and {len(problems) - max_listed} more"] if more else [])  # one by one, for data check
        raise err
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
