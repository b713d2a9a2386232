"""facetrust train: config schema, a fast smoke run on a small fas-sim, and the slow end-to-end check."""

import json

import numpy as np
import pytest
import torch

import facetrust
from facetrust.cli import main
from facetrust.config import from_dict, load_config
from facetrust.errors import ConfigError
from facetrust.tasks.fas_config import FasExperiment

DEMO = "configs/demo/flip_it_tiny.yaml"


@pytest.fixture(scope="module")
def small_sim(tmp_path_factory):
    from facetrust.data import make_fas_sim

    folder = tmp_path_factory.mktemp("sim")
    return make_fas_sim(folder, seed=0, image_size=64, domains=("phone", "webcam"),
                        subjects_per_domain=5, frames_per_video=1)


def smoke_overrides(manifest, model="flip_it"):
    return [f"data.manifest={manifest}", f"model.name={model}", "train.iterations=4", "train.val_every=2",
            "train.per_group=2", "train.warmup_iterations=1", "eval.n_bootstrap=0",
            "trainer.progress_bar=false", "protocol.targets=[webcam]"]


def test_demo_and_paper_configs_validate():
    import pathlib

    files = sorted(pathlib.Path("configs/fas").glob("flip*.yaml")) + sorted(pathlib.Path("configs/demo").glob("flip*.yaml"))
    assert len(files) >= 10
    for file in files:
        config = load_config(file, FasExperiment)
        assert config.model.name in ("flip_v", "flip_it", "flip_mcl")
    paper = load_config("configs/fas/flip_mcl_protocol1.yaml", FasExperiment)
    assert (paper.model.clip, paper.model.pretrained, paper.train.lr, paper.train.iterations) == ("ViT-B-16", "openai", 1e-6, 4000)
    assert paper.train.per_group == 3 and paper.protocol.extra_sources == ["celeba_spoof"]


def test_config_typos_are_named():
    with pytest.raises(ConfigError, match="train.lrr"):
        from_dict(FasExperiment, {"train": {"lrr": 1.0}})
    with pytest.raises(ConfigError, match="model.name"):
        from_dict(FasExperiment, {"model": {"name": "flip_x"}})


@pytest.mark.parametrize("model", ["flip_it", "flip_mcl", "flip_v"])
def test_train_cli_smoke(tmp_path, small_sim, model, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "run"
    args = ["train", DEMO, "--out", str(out), "--seeds", "3"]
    for item in smoke_overrides(small_sim, model):
        args += ["--set", item]
    assert main(args) == 0
    assert "phone-webcam" in capsys.readouterr().out
    assert (out / "config.yaml").is_file() and "flip" in (out / "config.yaml").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [3] and list(summary["summary"]) == ["phone-webcam"]
    record = summary["runs"]["phone-webcam"][0]
    assert record["strategy"] == "eer@val" and record["honest"] is True and record["domain"] == "webcam"
    predictor = facetrust.load(out / "phone-webcam" / "seed3" / "checkpoint")
    assert predictor.config["threshold_strategy"] == "eer@val"
    assert predictor.threshold == pytest.approx(record["levels"]["frame"]["threshold"])
    assert predictor.config["metadata"]["target"] == "webcam" and predictor.config["metadata"]["seed"] == 3
    scores = predictor.scores([np.zeros((64, 64, 3), np.uint8)])
    assert scores.shape == (1,) and 0.0 <= scores[0] <= 1.0


def test_missing_validation_split_is_a_clear_error(tmp_path, small_sim):
    import pandas as pd

    from facetrust.errors import DataError

    df = pd.read_csv(small_sim)
    df.loc[df["split"] == "val", "split"] = "train"
    manifest = small_sim.parent / "noval.csv"
    df.to_csv(manifest, index=False)
    config = load_config(DEMO, FasExperiment, smoke_overrides(manifest))
    from facetrust.tasks.fas import train_fas

    with pytest.raises(DataError, match="no 'val' split"):
        train_fas(config, str(tmp_path / "x"))


@pytest.mark.slow
def test_flip_it_tiny_learns_the_held_out_domain(tmp_path):
    """FLIP-IT on clip-tiny, fas-sim leave-one-domain-out (target: kiosk), CPU for a few minutes."""
    from facetrust.data import ImageDataset, read_manifest, split_protocol
    from facetrust.data.protocols import leave_one_domain_out
    from facetrust.data.transforms import eval_transform
    from facetrust.metrics import auc
    from facetrust.models import create_model
    from facetrust.seed import seed_everything
    from facetrust.tasks.fas import predict_scores, train_fas

    torch.set_num_threads(1)
    config = load_config(DEMO, FasExperiment, ["protocol.targets=[kiosk]", "trainer.progress_bar=false"])
    result = train_fas(config, str(tmp_path / "run"))
    fold = next(iter(result["summary"]))
    levels = result["summary"][fold]["levels"]
    trained_auc, video_auc = levels["frame"]["auc"]["mean"], levels["video"]["auc"]["mean"]

    seed_everything(0)
    untrained = create_model("flip_it", clip="clip-tiny")
    df = read_manifest(next(tmp_path.glob("run/fas-sim-*/manifest.csv")))
    protocol = next(p for p in leave_one_domain_out(sorted(set(df["domain"]))) if p.target == "kiosk")
    _, _, test = split_protocol(df, protocol)
    untrained_auc = auc(predict_scores(untrained, ImageDataset(test, eval_transform(untrained.preprocess))),
                        test["label"].to_numpy())
    print(f"held-out kiosk AUC: trained frame {trained_auc:.3f} video {video_auc:.3f}, untrained frame {untrained_auc:.3f}")
    # video level = mean frame score per video, FLIP's (and SSDG's) reporting level
    assert video_auc >= 0.90
    assert trained_auc - untrained_auc >= 0.2
