"""Claims: the rule-based splitter on fixed answers, CLIPScore and the contrast test against naive loops,
contrast sets, calibration (thresholds, ECE, provenance)."""

import math
import warnings

import numpy as np
import pytest
import torch

from facetrust.claims.calibrate import Calibration, expected_calibration_error, fit_calibration, image_hash
from facetrust.claims.contrast import alternatives, claim_scope, negate
from facetrust.claims.score import clip_score, contrast_probability, with_prefix
from facetrust.claims.split import SPLITTERS, fit_to_context, split_claims
from facetrust.errors import CheckpointError, DataError

ANSWERS = [
    ("The person wears glasses and a hat.", ["The person wears glasses", "The person wears a hat"]),
    ("The background is blue and the person smiles. There are two faces!",
     ["The background is blue", "The person smiles", "There are two faces"]),
    ("The person has a beard and wears glasses; the photo is blurry.",
     ["The person has a beard", "The person wears glasses", "The photo is blurry"]),
    ("The image shows a printed photo, but the face is real.", ["The image shows a printed photo", "The face is real"]),
    ("The person is wearing a hat, glasses and a scarf.",
     ["The person is wearing a hat", "The person is wearing glasses", "The person is wearing a scarf"]),
    ("A man with glasses and a hat stands in front of a wall.",
     ["A man with glasses and a hat stands in front of a wall"]),
    ("A black and white photo of a face", ["A black and white photo of a face"]),
    ("It is either a print or a replay.", ["It is either a print or a replay"]),
    ("Dr. Smith wears glasses. The score is 2.5 today.", ["Dr. Smith wears glasses", "The score is 2.5 today"]),
    ("The face has a smile and the eyes are closed", ["The face has a smile", "The eyes are closed"]),
    ("the photo is dark\nthe colours are warm", ["The photo is dark", "The colours are warm"]),
    ("   ", []),
]


@pytest.mark.parametrize("answer,expected", ANSWERS)
def test_rule_splitter_on_fixed_answers(answer, expected):
    assert split_claims(answer) == expected
    assert split_claims(answer) == split_claims(answer)  # deterministic


def test_sentence_splitter_and_plugin_point():
    assert split_claims("A is red and B is blue. C is green.", "sentences") == ["A is red and B is blue", "C is green"]

    @SPLITTERS.register("test-commas")
    def by_commas(text: str) -> list[str]:
        return text.split(",")

    assert split_claims("a, b ,c", "test-commas") == ["a", "b", "c"]
    assert split_claims("x; y", lambda t: [t.upper()]) == ["X; Y"]
    with pytest.raises(KeyError, match="unknown claim splitter"):
        split_claims("x", "nope")
    with pytest.raises(TypeError, match="list of strings"):
        split_claims("x", lambda t: "not a list")


def test_long_claims_are_split_or_truncated_with_a_warning():
    words = lambda t: len(t.split())  # noqa: E731
    with pytest.warns(UserWarning, match="split at commas"):
        out = fit_to_context(["one two three, four five"], words, 3)
    assert out == ["one two three", "four five"]
    with pytest.warns(UserWarning, match="truncated to 'a b c'"):
        assert fit_to_context(["a b c d e"], words, 3) == ["a b c"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit_to_context(["short one"], words, 3) == ["short one"]


def _naive_cos(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_clip_score_matches_a_naive_computation(rng):
    images, texts = rng.normal(size=(4, 7)), rng.normal(size=(3, 7))
    texts[0] = -images[0]  # a negative cosine: CLIPScore clips it to 0
    got = clip_score(torch.tensor(images), texts)
    assert got.shape == (4, 3)
    for i in range(4):
        for j in range(3):
            assert got[i, j] == pytest.approx(2.5 * max(_naive_cos(images[i], texts[j]), 0.0), abs=1e-6)
    assert got[0, 0] == 0.0
    assert clip_score(images[1], images[1] * 3.0)[0, 0] == pytest.approx(2.5, abs=1e-6)  # scale-free
    assert with_prefix("The background is blue") == "A photo depicts The background is blue"
    with pytest.raises(ValueError, match="7-d"):
        clip_score(images, rng.normal(size=(2, 5)))


def test_contrast_probability_is_a_softmax_over_scaled_cosines(rng):
    image, claim, alts = rng.normal(size=5), rng.normal(size=5), rng.normal(size=(3, 5))
    scale = 40.0
    logits = [scale * _naive_cos(image, t) for t in [claim, *alts]]
    expected = math.exp(logits[0]) / sum(math.exp(v) for v in logits)
    assert contrast_probability(image, claim, alts, scale) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="at least one alternative"):
        contrast_probability(image, claim, np.zeros((0, 5)), scale)


def test_contrast_sets_negation_and_scope():
    assert alternatives("The background is blue") == [
        "The background is not blue", "The background is red", "The background is green",
        "The background is yellow", "The background is gray", "The background is purple"]
    assert alternatives("The person wears no glasses") == ["The person wears glasses", "The person wears sunglasses"]
    assert alternatives("The image shows no faces")[1:] == ["The image shows one face", "The image shows two faces"]
    assert negate("The person has a beard") == "The person has no beard"
    assert negate("The person wears a hat") == "The person does not wear a hat"
    assert negate("The photo isn't dark") == "The photo is dark"
    assert negate("Sunny day") == "It is not true that sunny day"
    assert claim_scope("The person wears glasses") == "face"
    assert claim_scope("The eyes are closed") == "face"
    assert claim_scope("The background is blue") == "image"
    assert claim_scope("The image shows two faces") == "image"


def test_ece_against_a_hand_computed_case():
    p = np.array([0.05, 0.15, 0.85, 0.95, 0.9])
    y = np.array([0, 1, 1, 1, 0])
    # bins: [0,.1): p .05 y 0 -> |0-.05|; [.1,.2): .15 vs 1 -> .85; [.8,.9): .85 vs 1 -> .15; [.9,1]: (.95,.9) vs .5 -> .425
    expected = (0.05 + 0.85 + 0.15 + 2 * 0.425) / 5
    assert expected_calibration_error(p, y) == pytest.approx(expected)


def test_calibration_thresholds_probability_and_provenance(tmp_path, rng):
    y = np.r_[np.ones(60), np.zeros(60)].astype(int)
    raw = np.clip(np.r_[rng.beta(5, 2, 60), rng.beta(2, 5, 60)], 1e-3, 1 - 1e-3)
    hashes = [f"img{i}" for i in range(30)]
    cal = fit_calibration(raw, y, "contrast", "sha256:model", hashes, {"split": "val", "source": "m.csv"}, 0.9)
    p = cal.probability(raw)
    assert cal.lower <= cal.upper
    supported, unsupported = p >= cal.upper, p <= cal.lower
    assert (y[supported] == 1).mean() >= 0.9 and (y[unsupported] == 0).mean() >= 0.9
    from sklearn.linear_model import LogisticRegression

    z = np.log(raw / (1 - raw))[:, None]
    reference = LogisticRegression(C=1e4).fit(z, y).predict_proba(z)[:, 1]
    np.testing.assert_allclose(p, reference, atol=1e-6)
    assert cal.provenance["split"] == "val" and cal.provenance["n_images"] == 30 and cal.provenance["n_claims"] == 120
    assert cal.calibrated_on("img3") and not cal.calibrated_on("other")
    saved = Calibration.load(cal.save(tmp_path))
    assert saved == cal
    with pytest.raises(CheckpointError, match="fitted for the model sha256:model"):
        saved.check_model("sha256:other")
    with pytest.raises(DataError, match="supported \\(1\\) and unsupported \\(0\\)"):
        fit_calibration(raw[:5], np.ones(5), "contrast", "m", [])
    zeros = np.zeros((2, 6, 3), np.uint8)
    assert image_hash(zeros) == image_hash(zeros.copy()) != image_hash(zeros.reshape(4, 3, 3))
