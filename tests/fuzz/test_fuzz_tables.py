"""Manifests with a randomly corrupted row -> DataError naming that row; metrics on random scores,
labels and species agree with naive references (property-based, hypothesis)."""

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from facetrust import metrics
from facetrust.data.manifest import read_manifest
from facetrust.errors import DataError

SPECIES = ("print", "replay", "mask")


def _valid_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        live = i % 2 == 0
        rows.append({"path": f"img{i}.png", "label": int(live), "domain": "a", "split": ("train", "val", "test")[i % 3],
                     "video_id": f"v{i}", "subject_id": f"s{i % 4}", "attack_type": "none" if live else "print"})
    return rows


CORRUPTIONS = {  # kind 15: one bad value in one row
    "label_text": ("label", st.text(min_size=1, max_size=6).filter(lambda s: s.strip() not in ("0", "1", "0.0", "1.0"))),
    "label_number": ("label", st.integers().filter(lambda v: v not in (0, 1))),
    "split": ("split", st.text(min_size=1, max_size=8).filter(lambda s: s not in ("train", "val", "test"))),
    "empty": ("domain", st.just("")),
    "empty_path": ("path", st.just("  ")),
    "attack_type_mismatch": ("attack_type", st.sampled_from(["none", "replay"])),
}


@given(st.integers(3, 30), st.data(), st.sampled_from(sorted(CORRUPTIONS)))
def test_manifest_corrupted_row_is_named(tmp_path, n, data, kind):
    rows = _valid_rows(n)
    row = data.draw(st.integers(0, n - 1))
    column, values = CORRUPTIONS[kind]
    value = data.draw(values)
    if kind == "attack_type_mismatch":  # the wrong attack_type for the row's label
        value = "replay" if rows[row]["label"] == 1 else "none"
    rows[row][column] = value
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    text = path.read_text()
    assume("\n" not in str(value) and "\r" not in str(value) and '"' not in str(value))
    with pytest.raises(DataError) as info:
        read_manifest(path)
    message = str(info.value)
    assert str(path.resolve()) in message
    if kind in ("label_text", "split") and ("," in str(value)):
        return  # a comma shifts the columns: the parser or the row check reports it, any row
    assert f"row {row}:" in message, (text, message)


@given(st.binary(max_size=400))
def test_manifest_random_bytes(tmp_path, junk):  # kind 16
    path = tmp_path / "manifest.csv"
    path.write_bytes(junk)
    with pytest.raises(DataError, match="manifest"):
        read_manifest(path)


# ---- metrics against naive references (kind 17) ----

scores_labels = st.integers(2, 40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 12), min_size=n, max_size=n),  # few distinct values: many ties
    st.lists(st.booleans(), min_size=n, max_size=n),
    st.lists(st.sampled_from(SPECIES), min_size=n, max_size=n),
)).filter(lambda t: 0 < sum(t[1]) < len(t[1]))


def _rates(scores, live, threshold):
    far = Fraction(sum(s >= threshold for s, b in zip(scores, live, strict=True) if not b), sum(not b for b in live))
    frr = Fraction(sum(s < threshold for s, b in zip(scores, live, strict=True) if b), sum(live))
    return far, frr


def _naive_eer(scores, live):
    best = None
    for t in sorted(set(scores)):  # observed scores; ties: |FAR-FRR|, then FAR+FRR, then the lower threshold
        far, frr = _rates(scores, live, t)
        key = (abs(far - frr), far + frr, t)
        if best is None or key < best[0]:
            best = (key, (far + frr) / 2, t)
    return best[1], best[2]


@given(scores_labels, st.integers(-1, 13))
def test_binary_metrics_match_naive(case, threshold):
    raw, live, _ = case
    scores = [s / 12 for s in raw]
    t = threshold / 12
    far, frr = _rates(scores, live, t)
    assert metrics.far_frr(scores, np.array(live, int), t) == pytest.approx((float(far), float(frr)))
    assert metrics.hter(scores, np.array(live, int), t) == pytest.approx(float((far + frr) / 2))
    eer, eer_threshold = metrics.eer(scores, np.array(live, int))
    naive_eer, naive_threshold = _naive_eer(scores, live)
    assert eer == pytest.approx(float(naive_eer)) and eer_threshold == pytest.approx(naive_threshold)
    pairs = [(b, a) for b, lb in zip(scores, live, strict=True) if lb for a, la in zip(scores, live, strict=True) if not la]
    naive_auc = sum(1.0 if b > a else 0.5 if b == a else 0.0 for b, a in pairs) / len(pairs)
    assert metrics.auc(scores, np.array(live, int)) == pytest.approx(naive_auc)
    for budget in (0.0, 0.1, 0.5):
        best = 0.0
        for th in [*set(scores), float("inf")]:
            f, r = _rates(scores, live, th)
            if f <= budget:
                best = max(best, float(1 - r))
        assert metrics.tpr_at_fpr(scores, np.array(live, int), budget) == pytest.approx(best)


@given(scores_labels, st.integers(-1, 13), st.sampled_from([0.0, 0.01, 0.1, 0.34, 0.5]))
def test_iso_pad_matches_naive(case, threshold, budget):
    raw, live, species = case
    scores = [s / 12 for s in raw]
    types = np.array(["none" if b else sp for b, sp in zip(live, species, strict=True)])
    labels = np.array(live, int)
    t = threshold / 12
    present = sorted({sp for sp, b in zip(types, live, strict=True) if not b})
    per = {sp: np.mean([s >= t for s, ty in zip(scores, types, strict=True) if ty == sp]) for sp in present}
    bpcer = np.mean([s < t for s, b in zip(scores, live, strict=True) if b])
    got = metrics.iso_pad(scores, labels, types, t)
    assert got["apcer_per_species"] == pytest.approx(per)
    assert got["apcer"] == pytest.approx(max(per.values())) and got["bpcer"] == pytest.approx(bpcer)
    assert got["acer"] == pytest.approx((max(per.values()) + bpcer) / 2)
    best = 1.0
    for th in [*set(scores), float("inf")]:
        ok = all(np.mean([s >= th for s, ty in zip(scores, types, strict=True) if ty == sp]) <= budget for sp in present)
        if ok:
            best = min(best, float(np.mean([s < th for s, b in zip(scores, live, strict=True) if b])))
    assert metrics.bpcer_at_apcer(scores, labels, types, budget) == pytest.approx(best)
    chosen = metrics.threshold_at_apcer(scores, labels, types, budget)
    assert max(metrics.iso_pad(scores, labels, types, chosen)["apcer_per_species"].values()) <= budget + 1e-12
