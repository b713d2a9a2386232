"""FLIP-V / IT / MCL on clip-tiny: logits vs naive references, text tower dropped, gradients, checkpoints."""

import pytest
import torch
import torch.nn.functional as F

import facetrust
from facetrust.models import create_model
from facetrust.models.flip import DEFAULT_PROMPTS


@pytest.fixture(scope="module")
def images():
    return torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def flip_it():
    torch.manual_seed(0)
    return create_model("flip_it", clip="clip-tiny").eval()


def test_flip_it_logits_match_naive_prompt_loop(flip_it, images):
    model = flip_it
    with torch.no_grad():
        class_rows = []
        for key in ("attack", "bona fide"):  # row 0 attack, row 1 bona fide
            embeddings = []
            for text in DEFAULT_PROMPTS[key]:
                e = model.clip.encode_text(model.tokenizer([text]))[0]
                embeddings.append(e / e.norm())
            mean = sum(embeddings) / len(embeddings)
            class_rows.append(mean / mean.norm())
        scale = model.clip.logit_scale.exp()
        expected = torch.zeros(len(images), 2)
        for i, image in enumerate(images):
            z = model.clip.encode_image(image[None])[0]
            for c in range(2):
                expected[i, c] = scale * torch.dot(z / z.norm(), class_rows[c])
        assert torch.allclose(model.class_text_embeddings, torch.stack(class_rows), atol=1e-6)
        assert torch.allclose(model(images), expected, atol=1e-4)
        assert torch.allclose(model.forward_naive(images), expected, atol=1e-4)


def test_flip_v_head_matches_flip_formula(images):
    torch.manual_seed(1)
    model = create_model("flip_v", clip="clip-tiny").eval()
    with torch.no_grad():
        visual = model.clip.visual
        tokens = visual.transformer(visual._embeds(images))
        cls = visual.ln_post(tokens)[:, 0]  # class token before projection
        assert cls.shape[1] == 128
        hidden = torch.relu(cls @ model.head.bottleneck.weight.t() + model.head.bottleneck.bias)
        hidden = hidden / (hidden.norm(dim=1, keepdim=True) ** 0.5 * 2**0.5)
        w = model.head.classifier.weight
        w = w / w.norm(dim=0, keepdim=True)  # FLIP normalises over the class axis
        expected = hidden @ w.t() + model.head.classifier.bias
        assert torch.allclose(model(images), expected, atol=1e-5)


def test_text_tower_dropped_gives_identical_logits(images):
    torch.manual_seed(2)
    model = create_model("flip_mcl", clip="clip-tiny").eval()
    with torch.no_grad():
        before = model(images)
    model.drop_text_tower()
    assert not model.has_text_tower
    assert not any("token_embedding" in k or "transformer.resblocks" in k and not k.startswith("clip.visual")
                   for k in model.state_dict())
    with torch.no_grad():
        assert torch.equal(model(images), before)
    with pytest.raises(RuntimeError, match="text tower"):
        model.forward_naive(images)


def test_eval_forward_never_touches_text_tower(images, monkeypatch):
    torch.manual_seed(3)
    model = create_model("flip_it", clip="clip-tiny").eval()

    def boom(*args, **kwargs):
        raise AssertionError("text tower used at inference")

    monkeypatch.setattr(model.clip, "encode_text", boom)
    with torch.no_grad():
        assert model(images).shape == (4, 2)


@pytest.mark.parametrize("name", ["flip_v", "flip_it", "flip_mcl"])
def test_training_forward_reaches_parameters(name, images):
    torch.manual_seed(4)
    model = create_model(name, clip="clip-tiny").train()
    logits = model(images)
    assert logits.shape == (4, 2) and torch.isfinite(logits).all()
    F.cross_entropy(logits, torch.tensor([0, 1, 0, 1])).backward()
    if name == "flip_mcl":
        model.simclr_projector(model.encode_image(images)).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    if name == "flip_v":  # FLIP-V trains the image tower and its head only
        missing = [n for n in missing if n.startswith(("clip.visual", "head"))]
        missing = [n for n in missing if n != "clip.visual.proj"]
    assert missing == []


def test_training_refreshes_class_text_embeddings(images):
    torch.manual_seed(5)
    model = create_model("flip_it", clip="clip-tiny").train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    before = model.class_text_embeddings.clone()
    F.cross_entropy(model(images), torch.tensor([0, 1, 0, 1])).backward()
    optimizer.step()
    model(images)  # the next training step re-encodes the prompts and refreshes the buffer
    model.eval()
    with torch.no_grad():
        assert not torch.allclose(model.class_text_embeddings, before)
        assert torch.allclose(model.class_text_embeddings, model.encode_prompts(), atol=1e-6)


def test_checkpoint_round_trip_with_and_without_text_tower(tmp_path, images):
    torch.manual_seed(6)
    model = create_model("flip_it", clip="clip-tiny",
                         prompts={"attack": ["a spoof", "a mask"], "bona fide": ["a live face"]}).eval()
    with torch.no_grad():
        expected = model(images)
    full = facetrust.load_model(facetrust.save(model, tmp_path / "full", threshold=0.4))
    assert full.has_text_tower and full.threshold == 0.4
    assert full.checkpoint_extra["prompts"]["attack"] == ["a spoof", "a mask"]
    model.drop_text_tower()
    slim = facetrust.load_model(facetrust.save(model, tmp_path / "slim"))
    assert not slim.has_text_tower
    assert (tmp_path / "slim" / "model.safetensors").stat().st_size < (tmp_path / "full" / "model.safetensors").stat().st_size
    with torch.no_grad():
        assert torch.equal(full(images), expected)
        assert torch.equal(slim(images), expected)


def test_bad_prompts_are_rejected():
    with pytest.raises(ValueError, match="exactly the keys"):
        create_model("flip_it", clip="clip-tiny", prompts={"spoof": ["x"], "real": ["y"]})
