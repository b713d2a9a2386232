"""Score the images of a manifest with a checkpoint and evaluate them: what ``facetrust eval`` runs.

Unreadable images are skipped and recorded (path and reason), never fatal: a batch job loses only
the bad files. Scores are P(bona fide) from ``facetrust.load(checkpoint).scores``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.errors import DataError
from facetrust.evaluate import EvaluationResult, ScoreSet, evaluate

SPLIT_NAMES = ("train", "val", "test")


def score_images(predictor, paths: list[str], batch_size: int = 32, progress: bool = True,
                 desc: str = "scoring") -> tuple[np.ndarray, list[dict[str, str]]]:
    """Scores for image files (NaN where a file could not be read) and the skipped files."""
    from tqdm import tqdm

    from facetrust.data import read_image

    scores = np.full(len(paths), np.nan)
    skipped: list[dict[str, str]] = []
    bar = tqdm(total=len(paths), desc=desc, unit="img", disable=not progress)
    for start in range(0, len(paths), batch_size):
        images, rows = [], []
        for i in range(start, min(start + batch_size, len(paths))):
            try:
                images.append(read_image(paths[i]))
                rows.append(i)
            except DataError as err:
                skipped.append({"path": str(paths[i]), "reason": str(err)})
        if images:
            scores[rows] = predictor.scores(images, batch_size=batch_size)
        bar.update(min(batch_size, len(paths) - start))
    bar.close()
    return scores, skipped


def select_rows(table, split: str | None, source: str):
    """Rows of a manifest for ``split`` ('all' or None keeps every row); an empty result is an error."""
    if split in (None, "all"):
        return table
    rows = table[table["split"] == split]
    if rows.empty:
        found = sorted(table["split"].unique().tolist())
        raise DataError(f"{source}: no rows with split {split!r} (splits present: {found}); pass --split")
    return rows


def _score_set(predictor, table, batch_size: int, progress: bool, desc: str) -> tuple[ScoreSet, list[dict[str, str]]]:
    scores, skipped = score_images(predictor, table["abs_path"].tolist(), batch_size, progress, desc)
    keep = ~np.isnan(scores)
    if not keep.any():
        raise DataError(f"{desc}: none of the {len(table)} images could be read; first error: {skipped[0]['reason']}")
    kept = table[keep]
    domains = sorted(kept["domain"].unique().tolist())
    return ScoreSet.from_table(kept, scores[keep], domain="+".join(domains)), skipped


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    manifest: str | os.PathLike,
    strategy: str | None = None,
    val: str | os.PathLike | None = None,
    split: str | None = "auto",
    domains: list[str] | None = None,
    batch_size: int = 32,
    n_bootstrap: int = 1000,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> EvaluationResult:
    """Evaluate a checkpoint on a manifest's ``split`` rows.

    ``split="auto"`` scores what training's summary scores: every row of the ``domains`` (a held-out
    target domain is unseen in all its splits) or, without ``domains``, the 'test' rows.

    ``val`` is a validation manifest (its 'val' rows when it has any, else all rows) or a split name
    of ``manifest`` (e.g. 'val'). The strategy defaults to ``eer@val`` with validation data and to the
    checkpoint's stored threshold without; ``test-eer`` needs neither. ``domains`` keeps only those
    target domains; validation rows taken from ``manifest`` then exclude them (source domains only),
    so the threshold never sees the target domain.
    """
    import facetrust
    from facetrust.data import read_manifest
    from facetrust.evaluate import parse_strategy

    predictor = facetrust.load(checkpoint, device=device)
    table = read_manifest(manifest)
    if split == "auto":  # as training scores a fold: all of a held-out target domain, else the test split
        split = "all" if domains else "test"
    test_rows = select_rows(table, split, str(manifest))
    if domains:
        unknown = sorted(set(domains) - set(test_rows["domain"]))
        if unknown:
            what = "rows" if split in (None, "all") else f"{split} rows"
            raise DataError(f"{manifest}: no {what} for domain(s) {unknown}; domains present: "
                            f"{sorted(test_rows['domain'].unique().tolist())}")
        test_rows = test_rows[test_rows["domain"].isin(domains)]
    val_rows = None
    if val is not None:
        if str(val) in SPLIT_NAMES and not Path(val).exists():
            source = table[~table["domain"].isin(domains)] if domains else table
            val_rows = select_rows(source, str(val), f"{manifest} (source domains)")
        else:
            val_table = read_manifest(val)
            has_val = (val_table["split"] == "val").any()
            val_rows = val_table[val_table["split"] == "val"] if has_val else val_table
    from facetrust.tasks.names import task_of

    extra: dict[str, Any] = {"checkpoint": str(checkpoint), "task": task_of(getattr(predictor, "config", {})),
                             "manifest": str(manifest), "split": split or "all", "rows": int(len(test_rows)),
                             "domains": sorted(test_rows["domain"].unique().tolist())}
    threshold = None
    if strategy is None:
        if val_rows is not None:
            strategy = "eer@val"
        elif predictor.threshold is not None:
            stored = predictor.config.get("threshold_strategy") or "unknown"
            strategy, threshold = f"checkpoint ({stored})", float(predictor.threshold)
        else:
            raise DataError(f"{checkpoint}: the checkpoint stores no threshold and no validation data was "
                            "given; pass --val MANIFEST_OR_SPLIT or --threshold fixed:<t>")
    else:
        kind, _ = parse_strategy(strategy)  # fail before scoring anything
        if kind in ("eer@val", "apcer@val") and val_rows is None:
            raise DataError(f"--threshold {strategy} needs validation data: pass --val MANIFEST_OR_SPLIT")
    test_set, skipped = _score_set(predictor, test_rows, batch_size, progress, "test")
    val_set = None
    if val_rows is not None and (threshold is None and not strategy.startswith(("fixed:", "test-eer"))):
        val_set, val_skipped = _score_set(predictor, val_rows, batch_size, progress, "validation")
        skipped += [{**item, "set": "validation"} for item in val_skipped]
        extra["validation_domain"] = val_set.domain
    result = evaluate(test_set, strategy, val_set, threshold=threshold, n_bootstrap=n_bootstrap, seed=seed)
    extra["skipped"] = skipped
    result.extra.update(extra)
    return result


def write_scores(result: EvaluationResult, path: str | os.PathLike) -> Path:
    """Frame-level scores as CSV (path, video_id, label, attack_type, score) so the evaluation can be redone."""
    import pandas as pd

    s = result.levels["frame"].score_set
    columns = {"path": s.paths} if s.paths is not None else {}
    columns.update({"video_id": s.video_ids, "label": s.labels, "attack_type": s.attack_types, "score": s.scores})
    pd.DataFrame(columns).to_csv(path, index=False)
    return Path(path)
