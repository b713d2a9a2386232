import numpy as np
import pytest

from facetrust.data.sim.difficulty import baseline_report, image_features


def test_spectrum_features_put_a_grating_in_its_band():
    # vertical grating of 0.3 cycles/pixel on 64 px: its energy lies in band 5 (0.25-0.37 cycles/px)
    x = np.arange(64)
    grating = (127 + 100 * np.sin(2 * np.pi * 0.3 * x))[None, :].repeat(64, axis=0)
    image = np.repeat(grating[..., None], 3, axis=2).astype(np.uint8)
    bands = image_features(image)[-6:]
    assert int(np.argmax(bands)) == 4
    hist = image_features(np.full((8, 8, 3), 255, np.uint8))[:48]
    assert hist[15] == hist[31] == hist[47] == 1.0 and hist.sum() == 3.0  # all pixels in the top bin


@pytest.mark.slow
def test_default_fas_sim_is_hard_but_learnable_for_a_plain_baseline(tmp_path):
    """Guards the benchmark's calibration (docs/data.md): cross-domain AUC high, HTER far from 0 and 50 %."""
    from facetrust.data import make_fas_sim

    rows = baseline_report(make_fas_sim(tmp_path, seed=0))
    auc = np.mean([r["target_auc"] for r in rows])
    hter = np.mean([r["target_hter"] for r in rows])
    assert all(r["val_auc"] > 0.9 for r in rows)  # within the sources: learnable
    assert 0.85 < auc < 0.99
    assert 0.08 < hter < 0.35
