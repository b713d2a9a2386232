"""CLIP pretraining (task: clip): retrieval metrics against a naive reference, a short run far above
chance, and the saved weights loaded by ``pretrained: PATH`` into FLIP with identical outputs."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from facetrust.tasks.clip_eval import retrieval_recall


def _naive_recall(sims: np.ndarray, text_image: np.ndarray, k: int) -> tuple[float, float]:
    i2t = []
    for i in range(sims.shape[0]):
        order = sorted(range(sims.shape[1]), key=lambda j: -sims[i, j])
        i2t.append(any(text_image[j] == i for j in order[:k]))
    t2i = []
    for j in range(sims.shape[1]):
        order = sorted(range(sims.shape[0]), key=lambda i: -sims[i, j])
        t2i.append(text_image[j] in order[:k])
    return float(np.mean(i2t)), float(np.mean(t2i))


def test_recall_matches_a_naive_ranking():
    rng = np.random.default_rng(0)
    text_image = np.repeat(np.arange(30), rng.integers(1, 5, size=30))
    image = F.normalize(torch.randn(30, 16, dtype=torch.float64), dim=1)
    text = F.normalize(image[text_image] + 0.9 * torch.randn(len(text_image), 16, dtype=torch.float64), dim=1)
    out = retrieval_recall(image, text, text_image, ks=(1, 5))
    for k in (1, 5):
        i2t, t2i = _naive_recall((image @ text.t()).numpy(), text_image, k)
        assert out[f"i2t_r@{k}"] == pytest.approx(i2t) and out[f"t2i_r@{k}"] == pytest.approx(t2i)
    assert 0 < out["i2t_r@1"] < 1 and out["chance@1"] == pytest.approx(1 / 30)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    from facetrust.tasks.clip import train

    out = tmp_path_factory.mktemp("clip")
    overrides = ["data.corpus.n_subjects=60", "data.corpus.images_per_subject=4", "train.iterations=40",
                 "train.batch_size=32", "train.warmup_iterations=5", "train.val_every=20",
                 "trainer.progress_bar=false", "trainer.num_threads=1"]
    result = train("configs/clip/clip_tiny.yaml", overrides, str(out))
    return result["runs"][0]


def test_short_pretraining_retrieves_held_out_images_far_above_chance(pretrained):
    test = pretrained["retrieval"]["test"]
    recall = (test["i2t_r@1"] + test["t2i_r@1"]) / 2
    assert test["images"] >= 20
    assert recall >= 5 * test["chance@1"], test
    report = json.loads((__import__("pathlib").Path(pretrained["weights"]).parent / "report.json").read_text())
    assert set(report["zero_shot"]) >= {"background", "presentation", "glasses"}
    assert report["zero_shot"]["background"]["accuracy"] > report["zero_shot"]["background"]["chance_balanced"]


def test_saved_weights_load_through_pretrained_path_into_flip(pretrained, monkeypatch):
    from safetensors import safe_open
    from safetensors.torch import load_file

    from facetrust.models import create_model
    from facetrust.models.clip import create_clip

    path = pretrained["weights"]
    with safe_open(path, "pt") as f:
        assert f.metadata()["open_clip_model"] == "clip-tiny"
    reference, tokenizer, _ = create_clip("clip-tiny")
    reference.load_state_dict(load_file(path))  # an independent load of the same file
    reference.eval()
    monkeypatch.setattr(torch, "load", lambda *a, **k: (_ for _ in ()).throw(AssertionError("unpickling")))
    images = torch.randn(4, 3, 64, 64)
    torch.manual_seed(99)
    flip_it = create_model("flip_it", clip="clip-tiny", pretrained=path).eval()
    with torch.no_grad():
        assert torch.equal(flip_it.encode_image(images), reference.encode_image(images))
        # FLIP-IT logits = scale * cos(image, mean of each class's normalised prompt embeddings)
        classes = []
        for key in ("attack", "bona fide"):
            emb = F.normalize(reference.encode_text(tokenizer(flip_it.prompts[key])), dim=-1)
            classes.append(F.normalize(emb.mean(dim=0), dim=0))
        expected = reference.logit_scale.exp().clamp(max=100) * F.normalize(reference.encode_image(images), dim=-1) \
            @ torch.stack(classes).t()
        assert torch.allclose(flip_it(images), expected, atol=1e-5)
        assert torch.allclose(flip_it.class_text_embeddings, torch.stack(classes), atol=1e-6)
        for name in ("flip_v", "flip_mcl"):  # the other variants start from the same towers
            other = create_model(name, clip="clip-tiny", pretrained=path).eval()
            assert torch.equal(other.encode_image(images), reference.encode_image(images))
    random_init = create_model("flip_it", clip="clip-tiny").eval()
    with torch.no_grad():
        assert not torch.allclose(random_init.encode_image(images), reference.encode_image(images))


@pytest.mark.parametrize("path", ["configs/clip/clip_tiny.yaml", "configs/clip/clip_small.yaml"])
def test_clip_configs_validate_and_dispatch_to_the_clip_task(path):
    from facetrust.config import load_config
    from facetrust.models.clip import create_clip
    from facetrust.tasks import read_task, task_module
    from facetrust.tasks.clip_config import ClipExperiment

    config = load_config(path, ClipExperiment)
    assert read_task(path) == "clip" and task_module("clip").__name__ == "facetrust.tasks.clip"
    model, _, preprocess = create_clip(config.model.clip)
    assert preprocess["input_size"] == (3, 64, 64)
    assert model.context_length == 32
