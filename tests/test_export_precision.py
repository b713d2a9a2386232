"""``--precision auto|fp32|int8``: the shipping rule, and the folder it writes (timings injected)."""

from __future__ import annotations

import json

import pytest
import torch

from facetrust.checkpoint import save
from facetrust.export.onnx import export_checkpoint
from facetrust.export.precision import choose_precision
from facetrust.export.runtime import OnnxPredictor
from facetrust.models import create_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def fas_sim(tmp_path_factory):
    from facetrust.data import make_fas_sim

    return make_fas_sim(tmp_path_factory.mktemp("fas"), seed=0, image_size=32, domains=("phone", "webcam"),
                        subjects_per_domain=3)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return save(create_model("resnet8", embed_dim=16, image_size=32), tmp_path_factory.mktemp("ckpt") / "ckpt",
                threshold=0.5)


def test_rule_needs_faster_and_no_more_flips_than_noise():
    assert choose_precision(10.0, 8.0, 2, 2)[0] == "int8"
    assert choose_precision(10.0, 8.0, 0, 0)[0] == "int8"
    precision, reason = choose_precision(10.0, 12.0, 0, 5)
    assert precision == "fp32" and "not faster" in reason
    precision, reason = choose_precision(10.0, 8.0, 3, 2)
    assert precision == "fp32" and "more decisions" in reason and "not faster" not in reason
    assert choose_precision(10.0, 10.0, 0, 0)[0] == "fp32"  # a tie is not faster


def _export(checkpoint, out, fas_sim, precision, timings):
    def timer(paths, batch):
        assert set(paths) == {"fp32", "int8"} and batch.shape[0] == 1
        return timings

    return export_checkpoint(checkpoint, out, calib=fas_sim, precision=precision, exporter="torchscript",
                             timer=timer, agreement_samples=32, calib_samples=16, log=lambda m: None)


def test_auto_ships_fp32_when_int8_is_slower(checkpoint, fas_sim, tmp_path):
    summary = _export(checkpoint, tmp_path / "out", fas_sim, "auto", {"fp32": 5.0, "int8": 9.0})
    choice = summary["shipped"]
    assert choice["shipped"] == "fp32" and "not faster" in choice["reason"]
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["export"]["precision"] == "fp32"
    recorded = config["export"]["precision_choice"]
    assert recorded["fp32_ms"] == 5.0 and recorded["int8_ms"] == 9.0 and recorded["timing"]["injected"]
    assert recorded["int8_flips"] >= 0 and recorded["fp32_pixel_noise_flips"] >= 0 and recorded["val_samples"] > 0
    assert (tmp_path / "out" / "int8" / "model.onnx").is_file()  # the measured INT8 is kept beside
    assert OnnxPredictor(tmp_path / "out").precision == "fp32"


def test_auto_ships_int8_when_faster_and_agreeing(fas_sim, tmp_path):
    # Threshold 0: every score is accepted in FP32, INT8 and under noise alike, so INT8 really flips
    # nothing (measured, not faked) and only the injected timings decide.
    torch.manual_seed(0)
    checkpoint = save(create_model("resnet8", embed_dim=16, image_size=32), tmp_path / "ckpt", threshold=0.0)
    summary = _export(checkpoint, tmp_path / "out", fas_sim, "auto", {"fp32": 9.0, "int8": 5.0})
    assert summary["shipped"]["shipped"] == "int8", summary["shipped"]["reason"]
    assert OnnxPredictor(tmp_path / "out").precision == "int8"
    assert OnnxPredictor(tmp_path / "out" / "fp32").precision == "fp32"
    assert not (tmp_path / "out" / "int8").exists()
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["export"]["precision_choice"]["int8_flips"] == 0
    assert config["export"]["precision_choice"]["fp32_pixel_noise_flips"] == 0
    assert json.loads((tmp_path / "out" / "fp32" / "config.json").read_text())["export"]["precision_choice"] == \
        config["export"]["precision_choice"]


def _flips(monkeypatch, int8_flips: int, noise_flips: int) -> None:
    """Make the val-split measurement report these flip counts (INT8 first, pixel noise second)."""
    import facetrust.export.precision as precision_module

    real_agreement, real_measure = precision_module.decision_agreement, precision_module.measure_precisions
    counts = iter([int8_flips, noise_flips])

    def measure(*args, **kwargs):
        monkeypatch.setattr(precision_module, "decision_agreement",
                            lambda a, b, t: {**real_agreement(a, b, t), "disagreements": next(counts)})
        return real_measure(*args, **kwargs)

    monkeypatch.setattr(precision_module, "measure_precisions", measure)


def test_auto_refuses_int8_that_flips_more_than_noise(checkpoint, fas_sim, tmp_path, monkeypatch):
    _flips(monkeypatch, 4, 1)
    summary = _export(checkpoint, tmp_path / "out", fas_sim, "auto", {"fp32": 9.0, "int8": 5.0})
    assert summary["shipped"]["shipped"] == "fp32" and "more decisions" in summary["shipped"]["reason"]
    assert summary["shipped"]["int8_flips"] == 4 and summary["shipped"]["fp32_pixel_noise_flips"] == 1


def test_auto_ships_int8_that_flips_as_often_as_noise(checkpoint, fas_sim, tmp_path, monkeypatch):
    _flips(monkeypatch, 2, 2)
    summary = _export(checkpoint, tmp_path / "out", fas_sim, "auto", {"fp32": 9.0, "int8": 5.0})
    assert summary["shipped"]["shipped"] == "int8"


def test_forced_precisions_and_auto_without_val_split(checkpoint, fas_sim, tmp_path):
    summary = _export(checkpoint, tmp_path / "fp32", fas_sim, "fp32", {"fp32": 9.0, "int8": 5.0})
    assert summary["shipped"]["shipped"] == "fp32" and "int8" not in summary
    summary = _export(checkpoint, tmp_path / "int8", fas_sim, "int8", {"fp32": 5.0, "int8": 9.0})
    assert summary["shipped"]["shipped"] == "int8" and "auto would ship fp32" in summary["shipped"]["reason"]
    assert OnnxPredictor(tmp_path / "int8").precision == "int8"
    summary = export_checkpoint(checkpoint, tmp_path / "nocalib", precision="auto", exporter="torchscript",
                                log=lambda m: None)
    assert summary["shipped"]["shipped"] == "fp32" and "val split" in summary["shipped"]["reason"]


def test_cli_precision_flag(checkpoint, fas_sim, tmp_path, capsys):
    from facetrust.cli import main

    args = ["export", str(checkpoint), "--out", str(tmp_path / "out"), "--exporter", "torchscript",
            "--precision", "fp32", "--calib", str(fas_sim)]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["shipped"] == "fp32" and printed["reason"].startswith("forced")
    with pytest.raises(SystemExit):
        main([*args[:-3], "--precision", "fp16"])


def test_calibration_methods_are_passed_to_ort(tmp_path):
    import numpy as np

    from facetrust.errors import FacetrustError
    from facetrust.export.onnx import export_onnx
    from facetrust.export.quantize import quantize_int8

    torch.manual_seed(0)
    export_onnx(create_model("resnet8", embed_dim=16, image_size=32), tmp_path / "m.onnx", exporter="torchscript")
    calibration = np.random.default_rng(0).normal(size=(8, 3, 32, 32)).astype(np.float32)
    files = {}
    for method in ("minmax", "entropy", "percentile"):
        files[method] = tmp_path / method / "model.onnx"
        info = quantize_int8(tmp_path / "m.onnx", files[method], calibration=calibration, front="int8",
                             calibration_method=method)
        assert info["calibration_method"] == method and method in info["format"]
    # Percentile (99.999%) clips the activation ranges MinMax takes whole, so the files differ (entropy
    # may find the whole range optimal on 8 Gaussian images, and match MinMax).
    assert files["minmax"].read_bytes() != files["percentile"].read_bytes()
    with pytest.raises(FacetrustError, match="calibration method"):
        quantize_int8(tmp_path / "m.onnx", tmp_path / "x.onnx", calibration=calibration, calibration_method="kl")
