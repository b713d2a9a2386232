"""A tiny train + export as a user runs it, output captured (not a terminal): none of the known
third-party noise, no progress-bar redraws, and a log file in the run folder with everything."""

import subprocess
import sys

import pytest

NOISE = ("litlogger", "LeafSpec", "Please consider to run pre-processing before quantization",
         "[W:onnxruntime", "Removing initializer", "\r")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from facetrust.data import make_fas_sim

    return make_fas_sim(tmp_path_factory.mktemp("sim"), seed=0, image_size=32, domains=("phone", "webcam"),
                        subjects_per_domain=4, frames_per_video=1)


def _facetrust(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facetrust.cli", *args], capture_output=True, text=True,
                          timeout=600, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})


def _train(sim, out, *flags):
    sets = [f"data.manifest={sim}", "train.iterations=2", "train.val_every=1", "train.per_group=1",
            "train.warmup_iterations=1", "eval.n_bootstrap=0", "protocol.targets=[webcam]",
            "trainer.progress_bar=true"]  # asked for, but stderr is not a terminal: no bar
    args = ["train", "configs/demo/flip_it_tiny.yaml", "--out", str(out), *flags]
    for item in sets:
        args += ["--set", item]
    return _facetrust(*args)


@pytest.mark.slow  # two CLI processes: ~50 s of CPU, minutes on a loaded machine
def test_train_and_export_output_is_clean(sim, tmp_path):
    out = tmp_path / "run"
    train = _train(sim, out)
    assert train.returncode == 0, train.stderr[-3000:]
    checkpoint = next(out.rglob("checkpoint"))
    export = _facetrust("export", str(checkpoint), "--out", str(tmp_path / "onnx"), "--int8", "--calib", str(sim),
                        "--calib-samples", "8", "--agreement-samples", "8")
    assert export.returncode == 0, export.stderr[-3000:]
    for step in (train, export):
        text = step.stdout + step.stderr
        found = [n for n in NOISE if n in text]
        assert not found, f"noise {found} in:\n{text[-3000:]}"
    assert "results in" in train.stdout and train.stdout.count("results in") == 1
    log = (out / "facetrust.log").read_text()
    assert "results in" in log and "frame level" in log  # everything printed is in the run's log


@pytest.mark.slow
def test_verbose_keeps_third_party_notices(sim, tmp_path):
    """The filters are what removes the noise: with --verbose Lightning's tip is back (so the test above can fail)."""
    verbose = _train(sim, tmp_path / "run", "--verbose")
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert "litlogger" in verbose.stdout + verbose.stderr


def test_filters_in_process(capfd, caplog):
    """Fast variant: Lightning's Trainer, the ORT advice and an ORT session, with the filters on."""
    import logging
    import warnings

    import lightning.pytorch as pl

    from facetrust import console

    console.silence_known_noise()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # every warning is recorded, except the ones filtered next
        console.warning_filters()
        pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, accelerator="cpu")
        from lightning.pytorch.utilities._pytree import _tree_flatten

        _tree_flatten(1)  # the call inside Lightning that warns about LeafSpec
    logging.warning("Please consider to run pre-processing before quantization. Refer to example: ...")
    logging.warning("a real warning stays")
    text = capfd.readouterr().err + caplog.text + "".join(str(w.message) for w in caught)
    assert "litlogger" not in text and "pre-processing before quantization" not in text
    assert "LeafSpec" not in "".join(str(w.message) for w in caught)
    assert "a real warning stays" in caplog.text
    assert not console.progress_enabled()  # pytest's stderr is not a terminal
