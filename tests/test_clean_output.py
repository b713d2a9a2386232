"""Output as a user gets it, captured (not a terminal): none of the known third-party noise, no
progress-bar redraws, the per-step lines and real warnings kept, and a log file in the run folder with
everything (the INFO records included).

The real tiny demo (every step, the CLI in a subprocess) and train + export are slow; the default run
has a fresh process that triggers each noise source the demo had (open_clip's and ONNX Runtime's root
INFO records, Lightning's GPU/TPU lines and its eval-mode warning) and its --verbose twin, which shows
them: so the quiet output comes from the filters, and removing one fails the test."""

import os
import subprocess
import sys

import pytest

NOISE = ("litlogger", "LeafSpec", "Please consider to run pre-processing before quantization",
         "[W:onnxruntime", "Removing initializer", "\r",
         "INFO:root:", "INFO root:", "Parsing model identifier", "Parsing tokenizer identifier", "GPU available:", "TPU available:", "module(s) in eval mode",
         "Created a copy of bias input", "`Trainer.fit` stopped")


def _noise(text: str) -> list[str]:
    return [n for n in NOISE if n in text]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from facetrust.data import make_fas_sim

    return make_fas_sim(tmp_path_factory.mktemp("sim"), seed=0, image_size=32, domains=("phone", "webcam"),
                        subjects_per_domain=4, frames_per_video=1)


def _facetrust(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facetrust.cli", *args], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1", **env})


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
        assert not _noise(text), f"noise {_noise(text)} in:\n{text[-3000:]}"
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


@pytest.mark.slow  # the real demo CLI through every step at test size: ~3 min on 2 loaded cores
def test_tiny_demo_output_is_clean(tmp_path):
    from facetrust.commands.demo import TINY_ENV
    from facetrust.demo.pipeline import STEPS

    out = tmp_path / "demo"
    demo = _facetrust("demo", "--quick", "--out", str(out), **{TINY_ENV: "1"})
    assert demo.returncode == 0, demo.stderr[-3000:]
    text = demo.stdout + demo.stderr
    assert not _noise(text), f"noise {_noise(text)} in:\n{text[-5000:]}"
    total = len(STEPS) + 1
    log = (out / "facetrust.log").read_text()
    for number, (_, title, _) in enumerate(STEPS, start=1):
        assert f"[{number}/{total}] {title}: " in demo.stdout  # every step ran and said so
        assert f"[{number}/{total}] {title}: " in log
    assert "report: " in demo.stdout and (out / "report.html").is_file()
    # The records kept off the terminal are in the demo's log file.
    assert "INFO root: Parsing model identifier" in log  # open_clip
    assert "INFO lightning.pytorch.utilities.rank_zero: GPU available:" in log
    assert "INFO root: Created a copy of bias input" in log  # ONNX Runtime's quantizer
    assert "\r" not in log


_NOISE_SOURCES = r"""
import logging, sys
from pathlib import Path

logging.basicConfig(level=logging.INFO)  # a library that configures logging on import (as ORT's
                                         # onnxruntime.quantization.matmul_nbits_quantizer does)
from facetrust import console

console.setup_output(level=sys.argv[1])  # what every long command does first
console.start_log(Path(sys.argv[2]), main=True)  # what the demo does next
from facetrust.models.clip import create_clip

create_clip("clip-tiny")  # open_clip logs "Parsing tokenizer identifier..." through the root logger
import lightning.pytorch as pl
import torch


class Distilling(pl.LightningModule):  # a frozen part kept in eval mode, like distillation's teacher
    def __init__(self):
        super().__init__()
        self.student, self.teacher = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1).eval()

    def train(self, mode=True):
        super().train(mode)
        self.teacher.eval()
        return self

    def training_step(self, batch, _):
        return self.student(batch).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.student.parameters(), lr=0.1)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.zeros(4, 2), batch_size=2)


console.silence_known_noise()  # as facetrust.tasks.fas.build_trainer does before each Trainer
trainer = pl.Trainer(max_steps=2, max_epochs=1, logger=False, enable_checkpointing=False,
                     enable_model_summary=False, enable_progress_bar=console.progress_enabled(), accelerator="cpu")
trainer.fit(Distilling())  # "GPU available: ...", "TPU available: ...", "Found 2 module(s) in eval mode"
logging.info("Created a copy of bias input 'b' called 'b0'")  # how ORT's qdq_quantizer logs it
print("[1/1] a step: 0 s")
logging.warning("a real warning stays")
"""


def _noise_sources(level: str, out) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _NOISE_SOURCES, level, str(out)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_noise_sources_stay_off_the_terminal_and_go_to_the_log(tmp_path):
    run = _noise_sources("normal", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    text = run.stdout + run.stderr
    assert not _noise(text), f"noise {_noise(text)} in:\n{text[-3000:]}"
    assert "[1/1] a step: 0 s" in run.stdout and "a real warning stays" in run.stderr
    log = (tmp_path / "facetrust.log").read_text()
    for record in ("INFO root: Parsing tokenizer identifier", "INFO lightning.pytorch.utilities.rank_zero: GPU available:",
                   "INFO root: Created a copy of bias input", "[1/1] a step", "a real warning stays"):
        assert record in log


def test_verbose_shows_the_noise_sources(tmp_path):
    """The same process with --verbose prints them: the filters are what keeps the test above quiet."""
    run = _noise_sources("verbose", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    for noise in ("Parsing tokenizer identifier", "GPU available:", "TPU available:", "module(s) in eval mode",
                  "Created a copy of bias input"):
        assert noise in run.stderr, noise


_LOGS = r"""
import logging, sys
from pathlib import Path
from facetrust import console

out = Path(sys.argv[1])
console.setup_output(level="normal")
console.start_log(out / "demo", main=True)
print("before the runs")
console.start_log(out / "a")
print("in run a")
logging.getLogger("x").info("an INFO record in run a")
console.start_log(out / "b")
print("in run b")
"""


def test_the_demo_log_keeps_everything_while_each_run_gets_its_own(tmp_path):
    run = subprocess.run([sys.executable, "-c", _LOGS, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "an INFO record" not in run.stdout + run.stderr  # INFO: the log files only
    demo, a, b = ((tmp_path / name / "facetrust.log").read_text() for name in ("demo", "a", "b"))
    for line in ("before the runs", "in run a", "an INFO record in run a", "in run b"):
        assert line in demo
    assert "in run a" in a and "an INFO record in run a" in a and "in run b" not in a and "before" not in a
    assert "in run b" in b and "in run a" not in b
