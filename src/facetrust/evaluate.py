"""Honest evaluation: threshold strategies, frame- and video-level metrics, bootstrap intervals, seeds.

The operating threshold is chosen on data the model may see (source-domain validation,
``eer@val``), never on the target test set. FLIP's own convention (the EER threshold of the test
set itself, Srivatsan et al., ICCV 2023) is available only as ``test-eer`` and every result made with
it says so (``honest = False``), because a threshold fitted to the test scores is optimistic and
cannot be deployed: at deployment time the target labels do not exist.

Video-level scores are the mean frame score per ``video_id``, as in FLIP and SSDG. A single run gets
bootstrap percentile intervals from resampling videos (bona fide and attack videos separately, so
every resample has both classes); several seeds are summarised by ``aggregate_seeds`` (mean ± std).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facetrust.metrics import _inputs
from facetrust.metrics._counts import accepted_counts, column_at, eer_columns, rates, trapezoid_auc
from facetrust.metrics._inputs import MetricError
from facetrust.metrics.binary import eer as _eer
from facetrust.metrics.iso_pad import threshold_at_apcer

STRATEGIES = ("eer@val", "fixed:<t>", "apcer@val:<x>", "test-eer")
TEST_EER_WARNING = (
    "test-eer: the threshold was chosen on the TEST set itself (FLIP's compatibility mode); the "
    "numbers are optimistic and the threshold is not deployable"
)
TPR_FPR = 0.01
BPCER_APCER = (0.01, 0.05, 0.10)
BOOTSTRAP_CURVE_POINTS = 2048  # thresholds per resample for the intervals of threshold-free metrics
LEVELS = ("frame", "video")


@dataclass
class ScoreSet:
    """Scores of one data set with what the metrics need: labels, attack species, video ids.

    ``attack_types`` defaults to 'attack' for every attack sample (one species); ``video_ids``
    defaults to one video per sample, so video level then equals frame level.
    """

    scores: Any
    labels: Any
    attack_types: Any = None
    video_ids: Any = None
    domain: str = ""
    paths: Any = None  # optional, per sample (image paths); carried along, not used by the metrics

    def __post_init__(self) -> None:
        self.scores = _inputs.check_scores(self.scores)
        bona_fide = _inputs.check_labels(self.labels, self.scores.size)
        self.labels = bona_fide.astype(np.int64)
        if self.attack_types is None:
            self.attack_types = np.where(bona_fide, "none", "attack")
        self.attack_types = _inputs.check_attack_types(self.attack_types, bona_fide)
        self.attack_types = np.where(bona_fide, "none", self.attack_types)
        if self.video_ids is None:
            self.video_ids = np.arange(self.scores.size)
        self.video_ids = _inputs.to_numpy(self.video_ids, "video_ids").astype(str)
        if self.video_ids.size != self.scores.size:
            raise MetricError(f"length mismatch: {self.scores.size} scores but {self.video_ids.size} video_ids")
        if self.paths is not None:
            self.paths = _inputs.to_numpy(self.paths, "paths").astype(str)
            if self.paths.size != self.scores.size:
                raise MetricError(f"length mismatch: {self.scores.size} scores but {self.paths.size} paths")

    @classmethod
    def from_table(cls, table, scores: Any, domain: str = "") -> ScoreSet:
        """From a manifest table (pandas) with columns label, attack_type, video_id and the scores."""
        missing = [c for c in ("label", "attack_type", "video_id") if c not in table.columns]
        if missing:
            raise MetricError(f"manifest table lacks column(s) {missing}; expected label, attack_type, video_id")
        paths = table["path"].to_numpy() if "path" in table.columns else None
        return cls(scores, table["label"].to_numpy(), table["attack_type"].to_numpy(),
                   table["video_id"].to_numpy(), domain, paths)

    @property
    def bona_fide(self) -> np.ndarray:
        return self.labels == 1

    def video_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(unique video ids, index of each sample's video)."""
        return np.unique(self.video_ids, return_inverse=True)

    def video_level(self) -> ScoreSet:
        """One sample per video: the mean of its frame scores. A video whose frames disagree on
        label or attack type is an error naming the video."""
        videos, index = self.video_index()
        n_frames = np.bincount(index)
        labels = np.bincount(index, weights=self.labels) / n_frames
        mixed = np.flatnonzero((labels != 0) & (labels != 1))
        if mixed.size:
            raise MetricError(f"video {str(videos[mixed[0]])!r} has frames with both labels; fix the manifest")
        species = np.empty(videos.size, dtype=self.attack_types.dtype)
        species[index] = self.attack_types
        if np.any(species[index] != self.attack_types):
            bad = index[np.flatnonzero(species[index] != self.attack_types)[0]]
            raise MetricError(f"video {str(videos[bad])!r} has frames of different attack types; fix the manifest")
        scores = np.bincount(index, weights=self.scores) / n_frames
        return ScoreSet(scores, labels.astype(np.int64), species, videos, self.domain)


@contextmanager
def _context(what: str) -> Iterator[None]:
    """Prefix a MetricError with the data set it came from."""
    try:
        yield
    except MetricError as err:
        raise MetricError(f"{what}: {err}") from err


def parse_strategy(strategy: str) -> tuple[str, float | None]:
    """'eer@val' | 'fixed:<t>' | 'apcer@val:<x>' | 'test-eer' -> (kind, parameter)."""
    text = str(strategy).strip()
    if text in ("eer@val", "test-eer"):
        return text, None
    for kind in ("fixed", "apcer@val"):
        if text.startswith(kind + ":"):
            try:
                value = float(text[len(kind) + 1 :])
            except ValueError:
                raise MetricError(f"threshold strategy {text!r}: {kind}: needs a number, e.g. {kind}:0.05") from None
            if kind == "apcer@val":
                value = _inputs.check_fraction(value, "apcer@val")
            return kind, _inputs.check_threshold(value)
    raise MetricError(f"unknown threshold strategy {text!r}; choose one of {', '.join(STRATEGIES)}")


def choose_threshold(
    strategy: str = "eer@val",
    val_scores: Any = None,
    val_labels: Any = None,
    val_attack_types: Any = None,
    test_scores: Any = None,
    test_labels: Any = None,
) -> tuple[float, dict[str, Any]]:
    """The operating threshold for a strategy, and an info dict saying how it was chosen.

    ``eer@val``: EER threshold on validation; ``fixed:<t>``: t; ``apcer@val:<x>``: the lowest
    threshold keeping every attack species' APCER <= x on validation; ``test-eer``: EER threshold
    on the test set (FLIP compatibility; ``info["honest"]`` is False and ``info["warning"]`` says why).
    """
    kind, value = parse_strategy(strategy)
    info: dict[str, Any] = {"strategy": str(strategy).strip(), "honest": True}
    if kind == "fixed":
        return float(value), {**info, "chosen_on": "nothing (fixed)"}
    if kind == "test-eer":
        if test_scores is None or test_labels is None:
            raise MetricError("test-eer needs the test scores and labels")
        with _context("test data"):
            test_eer, threshold = _eer(test_scores, test_labels)
        return threshold, {**info, "chosen_on": "test", "honest": False, "warning": TEST_EER_WARNING,
                           "test_eer": test_eer}
    if val_scores is None or val_labels is None:
        raise MetricError(
            f"{strategy} needs validation scores and labels (source-domain validation data, e.g. "
            "--val MANIFEST); without them use fixed:<t> or the checkpoint's stored threshold"
        )
    n_val = len(_inputs.to_numpy(val_scores, "val_scores"))
    if kind == "eer@val":
        with _context("validation data"):
            val_eer, threshold = _eer(val_scores, val_labels)
        return threshold, {**info, "chosen_on": "validation", "val_eer": val_eer, "n_val": n_val}
    if val_attack_types is None:  # one pooled species
        val_attack_types = np.where(_inputs.to_numpy(val_labels, "val_labels") == 1, "none", "attack")
    with _context("validation data"):
        threshold = threshold_at_apcer(val_scores, val_labels, val_attack_types, value)
    return threshold, {**info, "chosen_on": "validation", "apcer_budget": value, "n_val": n_val}


def level_metrics(score_set: ScoreSet, threshold: float, weights: np.ndarray | None = None,
                  max_thresholds: int | None = None) -> dict[str, np.ndarray]:
    """All metrics of one level at ``threshold``, each an (R,) array for R weight rows (R = 1 without
    weights). Computed from accepted counts at every distinct threshold, so the bootstrap costs
    cumulative sums, not a loop over metrics. ``max_thresholds`` bins the curve for the threshold-free
    metrics (AUC, EER, TPR@FPR, BPCER@APCER); metrics at ``threshold`` stay exact."""
    bona = score_set.bona_fide
    species = sorted(set(score_set.attack_types[~bona].tolist()))
    groups = np.stack([bona, ~bona] + [~bona & (score_set.attack_types == s) for s in species])
    counts = accepted_counts(score_set.scores, groups, weights, max_thresholds, exact_at=(threshold, 0.5))
    accepted, totals = counts.accepted, counts.totals
    n_bona, n_attack = totals[:, 0], totals[:, 1]
    rate = rates(accepted, totals)  # (R, K, T + 1)
    tpr, far = rate[:, 0], rate[:, 1]
    rows = np.arange(accepted.shape[0])
    eer_col = eer_columns(accepted[:, 0], accepted[:, 1], n_bona, n_attack)
    col = column_at(counts.thresholds, threshold)
    species_rate = rate[:, 2:]  # (R, S, T + 1); NaN where a resample lost a species
    worst = np.max(np.where(np.isnan(species_rate), -np.inf, species_rate), axis=1)  # worst species
    out = {
        "auc": trapezoid_auc(accepted[:, 0], accepted[:, 1], n_bona, n_attack),
        "eer": (far[rows, eer_col] + 1.0 - tpr[rows, eer_col]) / 2.0,
        "hter": (far[:, col] + 1.0 - tpr[:, col]) / 2.0,
        "far": far[:, col],
        "frr": 1.0 - tpr[:, col],
        f"tpr@fpr={TPR_FPR:.0%}": np.max(np.where(far <= TPR_FPR, tpr, 0.0), axis=1),
        "apcer": worst[:, col],
        "bpcer": 1.0 - tpr[:, col],
        "acer": (worst[:, col] + 1.0 - tpr[:, col]) / 2.0,
    }
    for budget in BPCER_APCER:
        feasible = worst <= budget
        out[f"bpcer@apcer={budget:.0%}"] = np.min(np.where(feasible, 1.0 - tpr, 1.0), axis=1)
    for i, name in enumerate(species):
        out[f"apcer[{name}]"] = species_rate[:, i, col]
    out.update(_classification_metrics(accepted[:, 0], accepted[:, 1], n_bona, n_attack,
                                       {"": col, "@0.5": column_at(counts.thresholds, 0.5)}))
    out["eer_threshold"] = counts.thresholds[eer_col - 1]
    return out


def _classification_metrics(tp: np.ndarray, fp: np.ndarray, n_pos: np.ndarray, n_neg: np.ndarray,
                            columns: dict[str, int]) -> dict[str, np.ndarray]:
    """Accuracy and F1 (bona fide / real = the positive class) at the given threshold columns, and
    average precision (sklearn's step-wise definition: sum over thresholds of recall gain x precision).

    ``tp``/``fp``: (R, T + 1) positives / negatives accepted at each column."""
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for suffix, col in columns.items():
            out[f"accuracy{suffix}"] = (tp[:, col] + n_neg - fp[:, col]) / (n_pos + n_neg)
            out[f"f1{suffix}"] = 2 * tp[:, col] / (tp[:, col] + fp[:, col] + n_pos)  # 2TP / (2TP + FP + FN)
        precision = tp[:, 1:] / np.maximum(tp[:, 1:] + fp[:, 1:], 1e-300)
        out["ap"] = (np.diff(tp, axis=1) * precision).sum(axis=1) / n_pos
    return out


@dataclass
class LevelResult:
    """Metrics of one level (frame or video) at its threshold, with bootstrap intervals."""

    threshold: float
    threshold_info: dict[str, Any]
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    counts: dict[str, Any]
    score_set: ScoreSet = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "threshold_info": self.threshold_info, "metrics": self.metrics,
                "intervals": {k: list(v) for k, v in self.intervals.items()}, "counts": self.counts}


@dataclass
class EvaluationResult:
    """Frame- and video-level results of one evaluation; ``honest`` is False for test-eer."""

    strategy: str
    honest: bool
    levels: dict[str, LevelResult]
    bootstrap: dict[str, Any]
    domain: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. skipped files, checkpoint path

    def to_dict(self) -> dict[str, Any]:
        out = {"strategy": self.strategy, "honest": self.honest, "domain": self.domain,
               "bootstrap": self.bootstrap, "levels": {k: v.to_dict() for k, v in self.levels.items()}}
        if not self.honest:
            out["warning"] = TEST_EER_WARNING
        return {**out, **self.extra}


def _stratified_video_weights(score_set: ScoreSet, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(R, n_videos) draw counts: bona fide and attack videos resampled with replacement separately."""
    videos, index = score_set.video_index()
    video_bona = np.zeros(videos.size, dtype=bool)
    video_bona[index] = score_set.bona_fide
    weights = np.zeros((n_resamples, videos.size))
    for members in (np.flatnonzero(video_bona), np.flatnonzero(~video_bona)):
        draws = rng.integers(0, members.size, size=(n_resamples, members.size))
        offsets = members.size * np.arange(n_resamples)[:, None]  # one bincount for all resamples
        drawn = np.bincount((draws + offsets).ravel(), minlength=n_resamples * members.size)
        weights[:, members] = drawn.reshape(n_resamples, members.size)
    return weights


def _bootstrap(frames: ScoreSet, videos: ScoreSet, thresholds: dict[str, float], n_resamples: int,
               seed: int, confidence: float) -> dict[str, dict[str, tuple[float, float]]]:
    """Percentile intervals per level from the same video resamples at both levels."""
    rng = np.random.default_rng(seed)
    video_weights = _stratified_video_weights(frames, n_resamples, rng)  # (R, n_videos), sorted ids
    _, frame_video = frames.video_index()
    order = np.argsort(-frames.scores, kind="stable")  # sorted once: later sorts see sorted input
    frames = ScoreSet(frames.scores[order], frames.labels[order], frames.attack_types[order],
                      frames.video_ids[order], frames.domain)
    frame_video = frame_video[order]
    draws: dict[str, dict[str, list[np.ndarray]]] = {"frame": {}, "video": {}}
    chunk = max(1, int(4_000_000 // frames.scores.size))  # (chunk, n) float64 temporaries of <= 32 MB
    for start in range(0, n_resamples, chunk):
        block = video_weights[start : start + chunk]
        for level, score_set, weights in (("frame", frames, block[:, frame_video]), ("video", videos, block)):
            for name, values in level_metrics(score_set, thresholds[level], weights, BOOTSTRAP_CURVE_POINTS).items():
                draws[level].setdefault(name, []).append(values)
    tail = 100.0 * (1.0 - confidence) / 2.0
    intervals: dict[str, dict[str, tuple[float, float]]] = {}
    for level, named in draws.items():
        intervals[level] = {}
        for name, chunks in named.items():
            values = np.concatenate(chunks)
            if name == "eer_threshold" or np.all(np.isnan(values)):
                continue
            low, high = np.nanpercentile(values, [tail, 100.0 - tail])
            intervals[level][name] = (float(low), float(high))
    return intervals


def evaluate(
    test: ScoreSet,
    strategy: str = "eer@val",
    val: ScoreSet | None = None,
    *,
    threshold: float | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> EvaluationResult:
    """Evaluate test scores at frame and video level with a threshold chosen by ``strategy``.

    The threshold is chosen per level (on validation frames for frame level, on validation video
    means for video level). Pass ``threshold`` to use a given value at both levels instead (e.g. a
    checkpoint's stored threshold); ``strategy`` then only records where it came from.
    ``n_bootstrap`` resamples of the test videos give ``confidence`` percentile intervals (0 = none).
    """
    if not 0.0 < confidence < 1.0:
        raise MetricError(f"confidence must be in (0, 1), e.g. 0.95; got {confidence}")
    sets = {"frame": test, "video": test.video_level()}
    val_sets = {"frame": val, "video": val.video_level()} if val is not None else {"frame": None, "video": None}
    honest = True
    thresholds: dict[str, float] = {}
    infos: dict[str, dict[str, Any]] = {}
    for level in LEVELS:
        if threshold is not None:
            thresholds[level] = _inputs.check_threshold(threshold)
            # a given threshold is honest unless it came from test-eer (e.g. "checkpoint (test-eer)")
            infos[level] = {"strategy": strategy, "honest": "test-eer" not in str(strategy), "chosen_on": "given"}
        else:
            v = val_sets[level]
            thresholds[level], infos[level] = choose_threshold(
                strategy,
                None if v is None else v.scores, None if v is None else v.labels,
                None if v is None else v.attack_types,
                sets[level].scores, sets[level].labels,
            )
        honest = honest and infos[level]["honest"]
    intervals = (
        _bootstrap(sets["frame"], sets["video"], thresholds, n_bootstrap, seed, confidence)
        if n_bootstrap > 0 else {"frame": {}, "video": {}}
    )
    levels = {}
    for level in LEVELS:
        score_set = sets[level]
        metrics = {name: float(values[0]) for name, values in level_metrics(score_set, thresholds[level]).items()}
        bona = score_set.bona_fide
        counts = {"bona_fide": int(bona.sum()), "attack": int((~bona).sum()),
                  "videos": int(np.unique(score_set.video_ids).size),
                  "species": {s: int(np.sum(score_set.attack_types[~bona] == s))
                              for s in sorted(set(score_set.attack_types[~bona].tolist()))}}
        levels[level] = LevelResult(thresholds[level], infos[level], metrics, intervals[level], counts, score_set)
    bootstrap = {"resamples": int(n_bootstrap), "seed": int(seed), "confidence": float(confidence),
                 "unit": "video, stratified by class", "threshold": "fixed (not re-chosen per resample)",
                 "curve_points": BOOTSTRAP_CURVE_POINTS}
    return EvaluationResult(str(strategy), honest, levels, bootstrap, test.domain)


def aggregate_seeds(results: list[EvaluationResult | dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std (sample std, ddof = 1) of every metric over runs with different seeds.

    Accepts results or their ``to_dict()``; all must share one threshold strategy, so an honest
    run is never averaged with a test-eer one.
    """
    dicts = [r.to_dict() if isinstance(r, EvaluationResult) else r for r in results]
    if not dicts:
        raise MetricError("aggregate_seeds needs at least one result")
    strategies = {d["strategy"] for d in dicts}
    if len(strategies) > 1:
        raise MetricError(f"cannot average results made with different threshold strategies: {sorted(strategies)}")
    out: dict[str, Any] = {"strategy": dicts[0]["strategy"], "honest": all(d["honest"] for d in dicts),
                           "runs": len(dicts), "levels": {}}
    for level in dicts[0]["levels"]:
        names = dicts[0]["levels"][level]["metrics"].keys()
        summary = {}
        for name in names:
            values = np.array([d["levels"][level]["metrics"].get(name, np.nan) for d in dicts], dtype=float)
            summary[name] = {"mean": float(np.nanmean(values)),
                             "std": float(np.nanstd(values, ddof=1)) if np.sum(~np.isnan(values)) > 1 else 0.0,
                             "values": values.tolist()}
        out["levels"][level] = summary
    if not out["honest"]:
        out["warning"] = TEST_EER_WARNING
    return out
