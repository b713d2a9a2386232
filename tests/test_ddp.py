"""Lightning DDP really run: `facetrust train ... --set trainer.devices=2 --set trainer.strategy=ddp` on
the CPU (gloo, 2 processes) against a single-process run with the same global batch.

Checks: both ranks joined (Lightning's own lines), only rank 0 reports ("results in" once) and writes;
with lr = 0 the DDP run and the single-process run give the same metrics (tolerance 1e-9: same seed,
same initial weights, and rank 0 scores the whole validation and test sets, not a shard); with a real
lr the DDP run trains (its checkpoint differs from the lr = 0 one). Trained weights are not compared
number for number: each rank's balanced sampler draws its own batch (seed + 1000 x rank), so the
DDP global batch (2 x per_group 1) is the same size as the single run's (per_group 2), not the same images.
"""

import json
import os
import subprocess
import sys

import pytest
from safetensors.numpy import load_file

pytestmark = pytest.mark.slow  # three CLI runs, two of them with 2 processes: ~30 s CPU, minutes under load


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from facetrust.data import make_fas_sim

    return make_fas_sim(tmp_path_factory.mktemp("sim"), seed=0, image_size=32, domains=("phone", "webcam"),
                        subjects_per_domain=4, frames_per_video=1)


def _train(sim, out, *sets):
    args = [sys.executable, "-m", "facetrust.cli", "train", "configs/demo/flip_it_tiny.yaml", "--out", str(out)]
    for item in (f"data.manifest={sim}", "train.iterations=4", "train.val_every=2", "train.warmup_iterations=1",
                 "eval.n_bootstrap=0", "protocol.targets=[webcam]", "trainer.accelerator=cpu", *sets):
        args += ["--set", item]
    run = subprocess.run(args, capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    (record,) = summary["runs"]["phone-webcam"]
    return run, record


def _metrics(record):
    return record["levels"]["frame"]["metrics"]


def test_ddp_two_cpu_processes_match_a_single_process(sim, tmp_path):
    single_run, single = _train(sim, tmp_path / "single", "train.per_group=2", "train.lr=0")
    ddp_run, ddp = _train(sim, tmp_path / "ddp", "train.per_group=1", "train.lr=0",
                          "trainer.devices=2", "trainer.strategy=ddp")
    text = ddp_run.stdout + ddp_run.stderr
    assert "MEMBER: 2/2" in text and "distributed_backend=gloo" in text  # two ranks really ran
    assert ddp_run.stdout.count("results in") == 1  # rank 1 prints no table and no second line
    assert "| phone-webcam |" in ddp_run.stdout
    for key in ("auc", "eer", "hter"):
        assert abs(_metrics(ddp)[key] - _metrics(single)[key]) <= 1e-9, key
    trained_run, trained = _train(sim, tmp_path / "ddp_lr", "train.per_group=1", "trainer.devices=2",
                                  "trainer.strategy=ddp")
    frozen = load_file(str(tmp_path / "ddp" / "phone-webcam" / "seed0" / "checkpoint" / "model.safetensors"))
    moved = load_file(str(tmp_path / "ddp_lr" / "phone-webcam" / "seed0" / "checkpoint" / "model.safetensors"))
    changed = sum(float(abs(moved[k] - frozen[k]).max()) > 0 for k in frozen)
    assert changed > 0, "DDP with lr > 0 did not change any weight"
    assert trained_run.stdout.count("results in") == 1
