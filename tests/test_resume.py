"""``facetrust train --resume`` after a run killed between folds: the finished fold is not run again
and the summary equals the one of an uninterrupted run, metric for metric (CPU, same seeds)."""

import json
import shutil

import numpy as np
import pytest

from facetrust.cli import main
from facetrust.errors import ConfigError

DEMO = "configs/demo/flip_it_tiny.yaml"


@pytest.fixture(scope="module")
def two_domains(tmp_path_factory):
    import pandas as pd

    from facetrust.data.io import write_image
    from facetrust.data.manifest import write_manifest

    root = tmp_path_factory.mktemp("two_domains")
    rng = np.random.default_rng(1)
    rows = []
    for domain in ("phone", "webcam"):
        for subject in range(5):
            for label in (0, 1):
                cast = np.array([25, 0, -25]) * (1 if label else -1)
                image = np.clip(rng.normal(rng.uniform(50, 200), 10, size=(32, 32, 3)) + cast, 0, 255).astype(np.uint8)
                path = root / f"{domain}_{subject}_{label}.png"
                write_image(path, image)
                rows.append({"path": str(path), "label": label, "domain": domain,
                             "split": ("train", "train", "train", "val", "val")[subject], "video_id": f"{domain}{subject}{label}",
                             "subject_id": f"s{subject}", "attack_type": "none" if label else "print"})
    return write_manifest(pd.DataFrame(rows), root / "manifest.csv")


def _train(manifest, out, *extra, lr="0.003"):
    sets = ["model.name=resnet8", "model.image_size=32", "model.pretrained=null", "train.freeze=[]",
            f"data.manifest={manifest}", "train.iterations=6", "train.val_every=3", "train.per_group=2",
            "train.warmup_iterations=1", f"train.lr={lr}", "eval.n_bootstrap=0", "trainer.progress_bar=false",
            "data.cache_images=false"]
    args = ["train", DEMO, "--out", str(out), "--quiet", *extra]
    for item in sets:
        args += ["--set", item]
    return main(args)


def _metrics(out):
    summary = json.loads((out / "summary.json").read_text())
    return {fold: [r["levels"]["frame"]["metrics"] for r in runs] for fold, runs in summary["runs"].items()}


def test_resume_after_a_kill_between_folds_gives_identical_metrics(two_domains, tmp_path, capsys):
    whole = tmp_path / "whole"
    assert _train(two_domains, whole) == 0
    expected = _metrics(whole)
    assert len(expected) == 2  # two folds (phone -> webcam, webcam -> phone)
    capsys.readouterr()

    resumed = tmp_path / "resumed"
    assert _train(two_domains, resumed) == 0
    folds = sorted(p for p in resumed.iterdir() if p.is_dir())
    shutil.rmtree(folds[1])  # the second fold never finished (killed while training it)
    (resumed / "summary.json").unlink()
    kept = (folds[0] / "seed0" / "result.json").stat().st_mtime_ns
    capsys.readouterr()
    assert _train(two_domains, resumed, "--resume") == 0
    printed = capsys.readouterr().out
    assert f"resume: {folds[0].name} seed 0 finished before" in printed
    assert (folds[0] / "seed0" / "result.json").stat().st_mtime_ns == kept  # not run again
    assert (folds[1] / "seed0" / "checkpoint" / "model.safetensors").is_file()  # run this time
    assert _metrics(resumed) == expected  # identical, not approximately equal


def test_resume_refuses_a_different_config(two_domains, tmp_path, capsys):
    out = tmp_path / "run"
    (out).mkdir()
    assert _train(two_domains, out) == 0
    with pytest.raises(ConfigError, match="different config"):
        from facetrust.config import load_config
        from facetrust.resume import request_resume
        from facetrust.tasks.fas import train_fas
        from facetrust.tasks.fas_config import FasExperiment

        request_resume(True)
        try:
            config = load_config(DEMO, FasExperiment, ["model.name=resnet8", "model.image_size=32",
                                                       f"data.manifest={two_domains}", "train.iterations=7"])
            train_fas(config, str(out))
        finally:
            request_resume(False)
