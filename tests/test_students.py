"""Students: shape, no NaN, gradients on every trainable parameter, frozen teacher classifier,
feature-layer metadata and checkpoint round trip."""

from __future__ import annotations

import pytest
import torch

import facetrust
from facetrust.features import FeatureTaps, token_layout, tokens_to_grid

torch.set_num_threads(1)

TINY = {
    "resnet8": {},
    "mobilenetv3_small_100": {},
    "vit_tiny_patch16_224": {"backbone_kwargs": {"depth": 2, "embed_dim": 48, "num_heads": 2, "patch_size": 8}},
    "clip_visual:ViT-B-16": {"vision_overrides": {"width": 32, "layers": 2, "head_width": 16, "patch_size": 8}},
}


def _student(name: str):
    torch.manual_seed(0)
    return facetrust.create_model(name, embed_dim=16, image_size=32, **TINY[name])


@pytest.mark.parametrize("name", list(TINY))
def test_student_forward_gradients_and_taps(name):
    model = _student(name).train()
    x = torch.randn(3, 3, 32, 32)
    with FeatureTaps(model, model.feature_layers) as taps:
        logits = model(x)
    assert logits.shape == (3, 2) and torch.isfinite(logits).all()
    emb = model.encode_image(x)
    assert emb.shape == (3, 16)
    assert torch.allclose(emb.norm(dim=1), torch.ones(3), atol=1e-5)
    # Logits are the scaled cosine to the class text embeddings (the inherited FLIP-IT classifier).
    model.eval()
    expected = model.logit_scale * model.encode_image(x) @ model.class_text_embeddings.t()
    assert torch.allclose(model(x), expected, atol=1e-5)
    model.train()
    (logits[:, 1] - logits[:, 0]).pow(2).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert not missing, f"no gradient reached {missing}"
    assert len(taps.outputs) == len(model.feature_layers) >= 2
    for tensor in taps.outputs.values():
        if tensor.ndim == 3:  # ViT tokens -> patch grid from the model's own metadata
            grid = tokens_to_grid(tensor, token_layout(model, (32, 32)))
            assert grid.shape[-2:] == (4, 4)
        else:
            assert tensor.ndim == 4


def test_classifier_buffers_are_frozen_and_copied_from_teacher():
    model = _student("resnet8")
    assert "class_text_embeddings" not in dict(model.named_parameters())
    teacher = torch.nn.Module()
    teacher.class_text_embeddings = torch.nn.functional.normalize(torch.randn(2, 16), dim=1)
    teacher.logit_scale = torch.nn.Parameter(torch.tensor(2.0))  # open_clip stores log(scale)
    model.set_classifier(teacher)
    assert torch.allclose(model.class_text_embeddings, teacher.class_text_embeddings, atol=1e-6)
    assert float(model.logit_scale) == pytest.approx(float(torch.tensor(2.0).exp()))
    teacher.class_text_embeddings = torch.randn(2, 8)
    with pytest.raises(ValueError, match="embed_dim=8"):
        model.set_classifier(teacher)


def test_preprocess_and_feature_layers_per_family():
    cnn = facetrust.create_model("mobilenetv3_large_100", embed_dim=8, image_size=48)
    assert cnn.preprocess["input_size"] == (3, 48, 48)
    assert cnn.preprocess["mean"] == pytest.approx((0.485, 0.456, 0.406))
    assert cnn.feature_layers == ["backbone.blocks.2", "backbone.blocks.4", "backbone.blocks.6"]
    clip = _student("clip_visual:ViT-B-16")
    assert clip.preprocess["mean"][0] == pytest.approx(0.48145466)
    with pytest.raises(KeyError, match="not_a_model"):
        facetrust.create_model("not_a_model")


def test_student_checkpoint_round_trip(tmp_path):
    model = _student("vit_tiny_patch16_224").eval()
    with torch.no_grad():
        model.class_text_embeddings.copy_(torch.nn.functional.normalize(torch.randn(2, 16), dim=1))
        model.logit_scale.fill_(50.0)
    facetrust.save(model, tmp_path / "ckpt", threshold=0.4, threshold_strategy="eer@val")
    loaded = facetrust.load_model(tmp_path / "ckpt")
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(loaded.class_text_embeddings, model.class_text_embeddings)
    assert torch.allclose(loaded(x), model(x), atol=1e-6)
    assert loaded.threshold == 0.4


@pytest.mark.slow  # the torch.export-based exporter takes ~1 min per model on a loaded CPU
@pytest.mark.parametrize("name", ["resnet8", "vit_tiny_patch16_224"])
def test_student_exports_to_onnx_with_parity(name, tmp_path):
    import numpy as np

    from facetrust.export.onnx import export_onnx, onnx_parity

    model = _student(name).eval()
    export_onnx(model, tmp_path / "model.onnx")
    batch = np.random.default_rng(0).normal(size=(3, 3, 32, 32)).astype(np.float32)
    assert onnx_parity(model, tmp_path / "model.onnx", batch) < 1e-4
