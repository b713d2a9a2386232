"""explain(): map shape and range across CNN, timm ViT and open_clip towers, square and non-square
inputs, patch sizes 8 and 16; targets, prompts, RGB-array inputs and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facetrust.explain import explain, list_methods
from facetrust.explain.cam import find_target_layer
from facetrust.features import token_layout

CAMS = ["gradcam", "gradcam++", "layercam", "eigengradcam"]
VIT_METHODS = CAMS + ["rollout", "clip-relevance"]
SIZES = [((32, 32), 8), ((32, 48), 8), ((32, 64), 16), ((48, 32), 16)]


class CosineClassifier(torch.nn.Module):
    """An open_clip image tower scored against two fixed class embeddings, like FLIP-IT."""

    def __init__(self, visual: torch.nn.Module, dim: int) -> None:
        super().__init__()
        self.visual = visual
        self.register_buffer("class_embeddings", torch.nn.functional.normalize(torch.randn(2, dim), dim=-1))

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 10 * torch.nn.functional.normalize(self.encode_image(x), dim=-1) @ self.class_embeddings.t()


def timm_vit(hw, patch):
    import timm

    torch.manual_seed(0)
    return timm.create_model("vit_tiny_patch16_224", img_size=hw, patch_size=patch, depth=2, embed_dim=32,
                             num_heads=2, num_classes=2)


def open_clip_classifier(hw, patch):
    from open_clip.transformer import VisionTransformer

    torch.manual_seed(0)
    tower = VisionTransformer(image_size=hw, patch_size=patch, width=32, layers=2, heads=2, mlp_ratio=2, output_dim=16)
    return CosineClassifier(tower, 16)


def check(heatmap: np.ndarray, hw) -> None:
    assert heatmap.shape == tuple(hw)
    assert heatmap.dtype == np.float32
    assert np.isfinite(heatmap).all()
    assert heatmap.min() >= 0.0 and heatmap.max() <= 1.0
    assert heatmap.max() == pytest.approx(1.0)  # not a constant map


def test_registered_methods():
    assert set(VIT_METHODS + ["random"]) <= set(list_methods())


@pytest.mark.parametrize("hw,patch", SIZES)
@pytest.mark.parametrize("method", VIT_METHODS)
def test_timm_vit(hw, patch, method):
    model = timm_vit(hw, patch)
    check(explain(model, torch.randn(1, 3, *hw), method, target="spoof"), hw)


@pytest.mark.parametrize("hw,patch", SIZES)
@pytest.mark.parametrize("method", VIT_METHODS)
def test_open_clip_tower(hw, patch, method):
    model = open_clip_classifier(hw, patch)
    check(explain(model, torch.randn(1, 3, *hw), method, target="live"), hw)


@pytest.mark.parametrize("hw", [(32, 32), (32, 48)])
@pytest.mark.parametrize("method", CAMS)
def test_cnn_student(hw, method):
    from facetrust.models import create_model

    torch.manual_seed(0)
    model = create_model("resnet8", embed_dim=16, image_size=32, widths=(8, 8, 16))
    check(explain(model, torch.randn(1, 3, *hw), method), hw)


def test_timm_cnn_target_layer_is_the_last_spatial_map():
    """MobileNetV3 ends with a 1x1 conv after pooling; the CAM layer must be the last spatial stage."""
    import timm

    model = timm.create_model("mobilenetv3_small_050", num_classes=2).eval()
    layer, reshape = find_target_layer(model, torch.randn(1, 3, 64, 64))
    assert reshape is None
    assert layer is model.blocks or layer is model.blocks[-1] or any(layer is m for m in model.blocks[-1].modules())
    check(explain(model, torch.randn(1, 3, 64, 80), "gradcam"), (64, 80))


def test_vit_student_from_the_model_factory():
    from facetrust.models import create_model

    model = create_model("vit_tiny_patch16_224", embed_dim=16, image_size=32,
                         backbone_kwargs={"depth": 1, "embed_dim": 32, "num_heads": 2, "patch_size": 8})
    assert token_layout(model, (32, 32)).grid_h == 4
    for method in ("gradcam", "rollout", "clip-relevance"):
        check(explain(model, torch.randn(1, 3, 32, 32), method), (32, 32))


def test_rgb_array_is_preprocessed_and_the_map_returned_at_its_size():
    model = timm_vit((32, 32), 8)
    model.preprocess = {"input_size": (3, 32, 32), "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
    image = np.random.default_rng(0).integers(0, 256, size=(50, 70, 3), dtype=np.uint8)
    check(explain(model, image, "rollout"), (50, 70))


def test_targets_change_the_map_and_callables_work():
    model = open_clip_classifier((32, 32), 8)
    x = torch.randn(1, 3, 32, 32)
    spoof = explain(model, x, "clip-relevance", target="spoof")
    live = explain(model, x, "clip-relevance", target=1)
    same = explain(model, x, "clip-relevance", target=lambda output: output[1])
    np.testing.assert_allclose(live, same, atol=1e-6)
    assert np.abs(spoof - live).max() > 0.05


def test_flip_prompt_relevance_and_prompt_specific_maps():
    from facetrust.models import create_model

    model = create_model("flip_it", clip="clip-tiny")
    x = torch.randn(1, 3, 64, 64)
    printout = explain(model, x, "clip-relevance", prompt="a printout shown to be a spoof face")
    pupil = explain(model, x, "clip-relevance", prompt="unnatural pupil reflection")
    check(printout, (64, 64))
    assert np.abs(printout - pupil).max() > 0.01  # each prompt yields its own map
    check(explain(model, x, "gradcam", prompt="a photo of a real face"), (64, 64))
    check(explain(model, x, "clip-relevance", target="spoof"), (64, 64))


def test_prompt_without_text_tower_is_a_clear_error():
    model = open_clip_classifier((32, 32), 8)
    with pytest.raises(ValueError, match="text tower"):
        explain(model, torch.randn(1, 3, 32, 32), "clip-relevance", prompt="a printout")


def test_bad_arguments_are_named():
    model = timm_vit((32, 32), 8)
    x = torch.randn(1, 3, 32, 32)
    with pytest.raises(KeyError, match="gradcamm"):
        explain(model, x, "gradcamm")
    with pytest.raises(ValueError, match="unknown target"):
        explain(model, x, "gradcam", target="maybe")
    with pytest.raises(ValueError, match="out of range"):
        explain(model, x, "gradcam", target=5)
    with pytest.raises(ValueError, match="multiple of the patch"):
        explain(model, torch.randn(1, 3, 30, 32), "rollout")
    with pytest.raises(TypeError, match="vision transformer"):
        explain(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()),
                x, "rollout")


def test_model_mode_is_restored():
    model = timm_vit((32, 32), 8).train()
    explain(model, torch.randn(1, 3, 32, 32), "gradcam")
    assert model.training
