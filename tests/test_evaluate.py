"""facetrust.evaluate: thresholds, video level, the batched engine vs the public metrics, bootstrap, seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from facetrust import metrics
from facetrust.evaluate import (
    TEST_EER_WARNING,
    ScoreSet,
    aggregate_seeds,
    choose_threshold,
    evaluate,
    level_metrics,
)
from facetrust.metrics import MetricError


def make_set(seed: int, n_videos: int = 30, frames: int = 3, shift: float = 0.0, domain: str = "d") -> ScoreSet:
    """Videos with a few frames; scores tied on a grid; bona fide higher; ``shift`` moves every score."""
    rng = np.random.default_rng(seed)
    video_label = np.r_[0, 1, rng.integers(0, 2, n_videos - 2)]
    video_type = np.where(video_label == 1, "none", np.array(["print", "replay"])[np.arange(n_videos) % 2])
    labels = np.repeat(video_label, frames)
    scores = np.clip(np.round(rng.normal(0.35 + 0.3 * labels + shift, 0.15), 2), 0, 1)
    video_ids = np.repeat([f"{domain}{i:03d}" for i in range(n_videos)], frames)
    return ScoreSet(scores, labels, np.repeat(video_type, frames), video_ids, domain)


def test_video_level_is_mean_per_video_like_pandas():
    s = make_set(0)
    v = s.video_level()
    table = pd.DataFrame({"v": s.video_ids, "s": s.scores, "y": s.labels, "a": s.attack_types})
    ref = table.groupby("v").agg(s=("s", "mean"), y=("y", "first"), a=("a", "first"))
    np.testing.assert_array_equal(v.video_ids, ref.index.to_numpy())
    np.testing.assert_allclose(v.scores, ref["s"].to_numpy())
    np.testing.assert_array_equal(v.labels, ref["y"].to_numpy())
    np.testing.assert_array_equal(v.attack_types, ref["a"].to_numpy())


def test_video_level_rejects_inconsistent_videos():
    with pytest.raises(MetricError, match="video 'a' has frames with both labels"):
        ScoreSet([0.1, 0.2, 0.3], [0, 1, 1], None, ["a", "a", "b"]).video_level()
    with pytest.raises(MetricError, match="video 'a' has frames of different attack types"):
        ScoreSet([0.1, 0.2, 0.3], [0, 0, 1], ["print", "replay", "none"], ["a", "a", "b"]).video_level()
    with pytest.raises(MetricError, match="length mismatch"):
        ScoreSet([0.1, 0.2], [0, 1], None, ["a"])


@pytest.mark.parametrize("seed", range(4))
def test_level_metrics_equal_public_metrics(seed):
    s = make_set(seed)
    for t in (0.3, float(s.scores[5]), 0.55):
        m = {k: float(v[0]) for k, v in level_metrics(s, t).items()}
        args = (s.scores, s.labels)
        assert m["auc"] == pytest.approx(metrics.auc(*args), abs=1e-12)
        assert (m["eer"], m["eer_threshold"]) == pytest.approx(metrics.eer(*args), abs=1e-12)
        assert m["hter"] == pytest.approx(metrics.hter(*args, t), abs=1e-12)
        assert m["tpr@fpr=1%"] == pytest.approx(metrics.tpr_at_fpr(*args, 0.01), abs=1e-12)
        pad = metrics.iso_pad(*args, s.attack_types, t)
        for key in ("apcer", "bpcer", "acer"):
            assert m[key] == pytest.approx(pad[key], abs=1e-12)
        for name, value in pad["apcer_per_species"].items():
            assert m[f"apcer[{name}]"] == pytest.approx(value, abs=1e-12)
        for budget in (0.01, 0.05, 0.10):
            assert m[f"bpcer@apcer={budget:.0%}"] == pytest.approx(
                metrics.bpcer_at_apcer(*args, s.attack_types, budget), abs=1e-12)


def test_weighted_counts_equal_explicit_repetition():
    s = make_set(1)
    rng = np.random.default_rng(5)
    weights = rng.integers(0, 3, size=(2, s.scores.size)).astype(float)
    weights[:, [0, 3]] = 1.0  # keep both classes present (samples 0-2 attack, 3-5 bona fide)
    batched = level_metrics(s, 0.5, weights)
    for r in range(2):
        keep = np.repeat(np.arange(s.scores.size), weights[r].astype(int))
        repeated = ScoreSet(s.scores[keep], s.labels[keep], s.attack_types[keep], s.video_ids[keep])
        ref = level_metrics(repeated, 0.5)
        for name in ref:
            assert batched[name][r] == pytest.approx(ref[name][0], abs=1e-12), name
        assert batched["auc"][r] == pytest.approx(roc_auc_score(s.labels, s.scores, sample_weight=weights[r]))


def test_bootstrap_matches_a_naive_loop_and_is_seedable():
    s = make_set(2, n_videos=16, frames=2)
    result = evaluate(s, "fixed:0.5", n_bootstrap=60, seed=7)
    # naive: the same draws (bona fide videos first, then attacks), frames rebuilt by concatenation
    rng = np.random.default_rng(7)
    videos, index = np.unique(s.video_ids, return_inverse=True)
    video_bona = np.zeros(videos.size, bool)
    video_bona[index] = s.labels == 1
    bona, attack = np.flatnonzero(video_bona), np.flatnonzero(~video_bona)
    draws_b = rng.integers(0, bona.size, size=(60, bona.size))
    draws_a = rng.integers(0, attack.size, size=(60, attack.size))
    hters, aucs = [], []
    for r in range(60):
        chosen = np.r_[bona[draws_b[r]], attack[draws_a[r]]]
        frames = np.concatenate([np.flatnonzero(index == v) for v in chosen])
        hters.append(metrics.hter(s.scores[frames], s.labels[frames], 0.5))
        aucs.append(metrics.auc(s.scores[frames], s.labels[frames]))
    frame = result.levels["frame"].intervals
    assert frame["hter"] == pytest.approx(tuple(np.percentile(hters, [2.5, 97.5])), abs=1e-12)
    assert frame["auc"] == pytest.approx(tuple(np.percentile(aucs, [2.5, 97.5])), abs=1e-12)
    again = evaluate(s, "fixed:0.5", n_bootstrap=60, seed=7)
    other = evaluate(s, "fixed:0.5", n_bootstrap=60, seed=8)
    assert again.levels["video"].intervals == result.levels["video"].intervals
    assert other.levels["frame"].intervals != result.levels["frame"].intervals
    low, high = frame["hter"]
    assert low <= result.levels["frame"].metrics["hter"] <= high


def test_choose_threshold_strategies():
    val, test = make_set(3), make_set(4, shift=-0.15)
    t, info = choose_threshold("eer@val", val.scores, val.labels)
    assert t == metrics.eer(val.scores, val.labels)[1] and info["honest"] and info["chosen_on"] == "validation"
    assert choose_threshold("fixed:0.42") == (0.42, {"strategy": "fixed:0.42", "honest": True,
                                                     "chosen_on": "nothing (fixed)"})
    t, info = choose_threshold("apcer@val:0.1", val.scores, val.labels, val.attack_types)
    assert t == metrics.threshold_at_apcer(val.scores, val.labels, val.attack_types, 0.1)
    assert metrics.iso_pad(val.scores, val.labels, val.attack_types, t)["apcer"] <= 0.1
    t, info = choose_threshold("test-eer", test_scores=test.scores, test_labels=test.labels)
    assert t == metrics.eer(test.scores, test.labels)[1]
    assert info["honest"] is False and info["warning"] == TEST_EER_WARNING


@pytest.mark.parametrize(
    ("strategy", "message"),
    [("eer", "unknown threshold strategy"), ("fixed:abc", "needs a number"), ("apcer@val:2", "must be in"),
     ("eer@val", "needs validation scores"), ("test-eer", "needs the test scores")],
)
def test_choose_threshold_errors(strategy, message):
    with pytest.raises(MetricError, match=message):
        choose_threshold(strategy)


def test_evaluate_honest_vs_test_eer_on_shifted_domain():
    val, test = make_set(5, n_videos=60), make_set(6, n_videos=60, shift=-0.2)
    honest = evaluate(test, "eer@val", val, n_bootstrap=0)
    compat = evaluate(test, "test-eer", n_bootstrap=0)
    assert honest.honest and not compat.honest and "warning" in compat.to_dict()
    for level in ("frame", "video"):
        h, c = honest.levels[level], compat.levels[level]
        assert h.threshold == choose_threshold("eer@val", *(
            (val.scores, val.labels) if level == "frame" else (val.video_level().scores, val.video_level().labels)))[0]
        assert c.metrics["hter"] == pytest.approx((metrics.far_frr(c.score_set.scores, c.score_set.labels, c.threshold)[0]
                                                   + metrics.far_frr(c.score_set.scores, c.score_set.labels, c.threshold)[1]) / 2)
        assert h.metrics["auc"] == c.metrics["auc"]  # threshold-free metrics do not depend on the strategy
        assert c.metrics["hter"] < h.metrics["hter"]  # the test-set threshold is optimistic here
    given = evaluate(test, "checkpoint (eer@val)", threshold=0.5, n_bootstrap=0)
    assert given.levels["frame"].threshold == given.levels["video"].threshold == 0.5 and given.honest
    assert not evaluate(test, "checkpoint (test-eer)", threshold=0.5, n_bootstrap=0).honest


def test_aggregate_seeds_mean_std():
    results = [evaluate(make_set(seed), "fixed:0.5", n_bootstrap=0) for seed in range(3)]
    summary = aggregate_seeds(results)
    hters = [r.levels["video"].metrics["hter"] for r in results]
    assert summary["levels"]["video"]["hter"]["mean"] == pytest.approx(np.mean(hters))
    assert summary["levels"]["video"]["hter"]["std"] == pytest.approx(np.std(hters, ddof=1))
    assert summary["runs"] == 3 and summary["honest"]
    assert aggregate_seeds([r.to_dict() for r in results]) == summary
    mixed = results[:1] + [evaluate(make_set(0), "test-eer", n_bootstrap=0)]
    with pytest.raises(MetricError, match="different threshold strategies"):
        aggregate_seeds(mixed)


def test_write_report_files_and_markdown(tmp_path):
    import json

    from facetrust.report import seeds_markdown, write_report

    result = evaluate(make_set(7, shift=-0.1), "test-eer", n_bootstrap=20)
    paths = write_report(result, tmp_path, figures=False)
    saved = json.loads(paths["json"].read_text())
    assert saved["levels"]["video"]["metrics"] == pytest.approx(result.levels["video"].metrics)
    assert saved["honest"] is False and saved["warning"] == TEST_EER_WARNING
    text = paths["markdown"].read_text()
    hter = result.levels["frame"].metrics["hter"]
    assert "WARNING" in text and f"| hter | {100 * hter:.2f} |" in text
    summary = aggregate_seeds([result, evaluate(make_set(8, shift=-0.1), "test-eer", n_bootstrap=0)])
    assert "WARNING" in seeds_markdown(summary) and "| hter |" in seeds_markdown(summary)


@pytest.mark.slow
def test_worked_example_numbers_match_the_docs(capsys):
    """Every table row the benchmark prints appears verbatim in docs/evaluation.md."""
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        import threshold_strategies
    finally:
        sys.path.pop(0)
    sys_argv, sys.argv = sys.argv, ["threshold_strategies.py"]
    try:
        threshold_strategies.main()
    finally:
        sys.argv = sys_argv
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("|", "source", "target", "lowest"))]
    docs = (root / "docs/evaluation.md").read_text()
    missing = [line for line in printed if line not in docs]
    assert len(printed) > 15 and not missing, missing


def test_binned_curve_keeps_metrics_at_the_threshold_exact():
    s = make_set(9, n_videos=60, frames=3)
    t = float(np.sort(s.scores)[77])  # a threshold exactly at an observed score
    exact = level_metrics(s, t)
    binned = level_metrics(s, t, max_thresholds=5)
    for name in ("hter", "far", "frr", "apcer", "bpcer", "acer", "apcer[print]", "apcer[replay]"):
        assert binned[name][0] == exact[name][0], name
    assert abs(binned["auc"][0] - exact["auc"][0]) < 0.1  # 5 bins: a coarse but bounded approximation
    assert binned["bpcer@apcer=5%"][0] >= exact["bpcer@apcer=5%"][0]  # fewer thresholds, never better
