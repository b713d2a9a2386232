"""INT8/FP32 decision agreement that can fail: the threshold sits at the median FP32 score, so half
the held-out decisions are "live" and half "spoof" (an untrained student scores ~0.95 on every image,
so at 0.5 every decision is "live" and agreement is 1.0 whatever the quantiser does)."""

import json

import numpy as np
import pytest

from facetrust.checkpoint import save
from facetrust.export.agreement import onnx_decision_logits
from facetrust.export.onnx import export_checkpoint, load_sample_images
from facetrust.export.runtime import make_session
from facetrust.models import create_model
from facetrust.predictor import preprocess_images

AGREEMENT_SAMPLES = 48


@pytest.fixture(scope="module")
def fas_sim(tmp_path_factory):
    from facetrust.data import make_fas_sim

    return make_fas_sim(tmp_path_factory.mktemp("fas"), seed=0, image_size=32, domains=("phone", "webcam"),
                        subjects_per_domain=4)


def test_int8_agreement_with_split_decisions(tmp_path, fas_sim):
    import torch

    torch.manual_seed(0)
    model = create_model("resnet8", image_size=32)
    # The held-out images the export scores (same selection: seed 2, val and test splits).
    images, _ = load_sample_images(fas_sim, AGREEMENT_SAMPLES, seed=2, splits=("val", "test"), model=model)
    with torch.inference_mode():
        logits = model.eval()(torch.from_numpy(preprocess_images(images, model.preprocess))).double()
    fp32_scores = torch.softmax(logits, 1)[:, 1].numpy()
    threshold = float(np.median(fp32_scores))
    live = fp32_scores >= threshold
    assert 0.3 <= live.mean() <= 0.7, "the median threshold must split the FP32 decisions"

    checkpoint = save(model, tmp_path / "ckpt", threshold=threshold)
    summary = export_checkpoint(checkpoint, tmp_path / "onnx", calib=fas_sim, int8=True, exporter="torchscript",
                                agreement_samples=AGREEMENT_SAMPLES, calib_samples=16, log=lambda m: None)
    recorded = summary["int8"]["agreement_with_fp32"]
    batch = preprocess_images(images, model.preprocess)
    fp32_margin = onnx_decision_logits(make_session(tmp_path / "onnx" / "model.onnx"), batch)
    int8_margin = onnx_decision_logits(make_session(tmp_path / "onnx" / "int8" / "model.onnx"), batch)
    cut = np.log(threshold) - np.log1p(-threshold)
    same = (fp32_margin >= cut) == (int8_margin >= cut)
    assert (fp32_margin >= cut).mean() == pytest.approx(live.mean())  # ONNX FP32 = PyTorch decisions
    assert recorded["agreement"] == pytest.approx(same.mean()) and recorded["samples"] == AGREEMENT_SAMPLES
    # The INT8 error is small against the spread of the FP32 log-odds over the images.
    spread = np.percentile(fp32_margin, 90) - np.percentile(fp32_margin, 10)
    error = np.abs(int8_margin - fp32_margin)
    assert np.median(error) < 0.25 * spread, (np.median(error), spread)
    # And the agreement is far above what unrelated decisions reach (half of them split at random: ~0.5).
    rng = np.random.default_rng(0)
    shuffled = (fp32_margin >= cut) == rng.permutation(fp32_margin >= cut)
    assert shuffled.mean() < 0.75 <= same.mean(), (shuffled.mean(), same.mean())
    config = json.loads((tmp_path / "onnx" / "int8" / "config.json").read_text())
    assert config["threshold"] == pytest.approx(threshold)
