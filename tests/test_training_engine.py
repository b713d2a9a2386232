"""The training engine, fast: the warmup + cosine schedule against the formula, model selection
(best state restored, ties to the later step), and a short run on a trivially separable set that
must learn, with the stored threshold equal to the validation EER threshold of the saved model."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from facetrust.config import load_config
from facetrust.tasks.fas_config import FasExperiment

DEMO = "configs/demo/flip_it_tiny.yaml"
RESNET = ["model.name=resnet8", "model.image_size=32", "model.pretrained=null", "train.freeze=[]"]


def _module(overrides):
    from facetrust.tasks.fas import FasModule, build_model

    config = load_config(DEMO, FasExperiment, RESNET + overrides)
    return FasModule(build_model(config), config, None, None, 0), config


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_warmup_then_cosine_schedule_matches_the_formula(schedule):
    module, config = _module(["train.iterations=20", "train.warmup_iterations=4", "train.lr=0.01",
                              f"train.schedule={schedule}"])
    setup = module.configure_optimizers()
    optimizer, scheduler = setup["optimizer"], setup["lr_scheduler"]["scheduler"]
    seen = []
    for _ in range(20):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    base, warm, total = 0.01, 4, 20
    for step, lr in enumerate(seen):
        if step < warm:
            expected = base * (step + 1) / warm  # linear warmup, reaching base at the last warmup step
        elif schedule == "cosine":
            expected = base * 0.5 * (1 + math.cos(math.pi * (step - warm) / (total - warm)))
        else:
            expected = base
        assert lr == pytest.approx(expected, rel=1e-9, abs=1e-15), step
    assert max(seen) == pytest.approx(base)
    if schedule == "cosine":
        assert seen[-1] < 0.02 * base  # decays to about zero by the last step


def test_best_state_is_restored_and_ties_go_to_the_later_step():
    module, _ = _module(["eval.select=val_auc"])
    module.log_dict = lambda *args, **kwargs: None
    labels = torch.tensor([0, 0, 1, 1])
    # validation AUCs 0.75, 1.0, 1.0 (a tie: the later one wins), 0.5
    rounds = [torch.tensor([0.1, 0.6, 0.4, 0.9]), torch.tensor([0.1, 0.2, 0.8, 0.9]),
              torch.tensor([0.3, 0.4, 0.5, 0.6]), torch.tensor([0.5, 0.5, 0.5, 0.5])]
    marker = next(module.model.parameters())
    for step, scores in enumerate(rounds, start=1):
        with torch.no_grad():
            marker.fill_(float(step))  # the weights at this validation
        module._trainer = SimpleNamespace(sanity_checking=False, world_size=1, global_step=step * 10)
        module._val_scores, module._val_labels = [scores], [labels]
        module.on_validation_epoch_end()
    module._trainer = None
    assert [round(h["val_auc"], 4) for h in module.history] == [0.75, 1.0, 1.0, 0.5]
    assert module.best_step == 30
    name = next(n for n, p in module.model.named_parameters() if p is marker)
    assert torch.all(module.best_state[name] == 3.0)  # the state at step 30, not the last (4) nor step 20


@pytest.fixture(scope="module")
def separable(tmp_path_factory):
    """Live = a red cast, attack = a blue cast (+-25 levels) on a random brightness (50-200), three
    domains: trivially separable once trained, yet a random-init network, which follows the brightness,
    does not separate it (AUC 0.1-0.63 over seeds 0-4 in a check)."""
    import pandas as pd

    from facetrust.data.io import write_image
    from facetrust.data.manifest import write_manifest

    root = tmp_path_factory.mktemp("separable")
    rng = np.random.default_rng(0)
    rows = []
    for domain in ("phone", "webcam", "kiosk"):
        for subject in range(6):
            for label in (0, 1):
                cast = np.array([25, 0, -25]) * (1 if label else -1)
                image = np.clip(rng.normal(rng.uniform(50, 200), 10, size=(32, 32, 3)) + cast, 0, 255).astype(np.uint8)
                path = root / f"{domain}_{subject}_{label}.png"
                write_image(path, image)
                rows.append({"path": str(path), "label": label, "domain": domain,
                             "split": ("train", "train", "train", "train", "val", "val")[subject],
                             "video_id": f"{domain}{subject}{label}", "subject_id": f"s{subject}",
                             "attack_type": "none" if label else "print"})
    return write_manifest(pd.DataFrame(rows), root / "manifest.csv")


def test_short_training_learns_and_stores_the_validation_eer_threshold(separable, tmp_path, capsys):
    import facetrust
    from facetrust.cli import main
    from facetrust.data import read_image, read_manifest
    from facetrust.metrics import auc, eer

    out = tmp_path / "run"
    sets = RESNET + [f"data.manifest={separable}", "train.iterations=12", "train.val_every=4", "train.per_group=2",
                     "train.warmup_iterations=2", "train.lr=0.003", "eval.n_bootstrap=0",
                     "protocol.targets=[kiosk]", "trainer.progress_bar=false", "data.cache_images=false"]
    args = ["train", DEMO, "--out", str(out), "--quiet"]
    for item in sets:
        args += ["--set", item]
    assert main(args) == 0
    capsys.readouterr()
    checkpoint = next(out.rglob("checkpoint"))
    predictor = facetrust.load(checkpoint)
    df = read_manifest(separable)
    val = df[(df["domain"] != "kiosk") & (df["split"] == "val")]
    test = df[df["domain"] == "kiosk"]
    val_scores = predictor.scores([read_image(p) for p in val["abs_path"]])
    test_scores = predictor.scores([read_image(p) for p in test["abs_path"]])
    _, val_threshold = eer(val_scores, val["label"].to_numpy())
    assert predictor.threshold == pytest.approx(val_threshold, abs=1e-6)  # eer@val, from the saved model
    assert auc(test_scores, test["label"].to_numpy()) > 0.95  # it learned
    from facetrust.predictor import preprocess_images
    from facetrust.seed import seed_everything
    from facetrust.tasks.fas import build_model

    seed_everything(0)  # the run's initial weights (seed 0)
    untrained = build_model(load_config(DEMO, FasExperiment, RESNET)).eval()
    with torch.no_grad():
        batch = torch.from_numpy(preprocess_images([read_image(p) for p in test["abs_path"]], untrained.preprocess))
        untrained_scores = torch.softmax(untrained(batch), 1)[:, 1].numpy()
    assert auc(untrained_scores, test["label"].to_numpy()) < 0.8  # so the AUC above was learned
