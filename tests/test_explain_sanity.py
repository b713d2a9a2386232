"""Sanity checks that can fail: do the maps point at the evidence, and do they depend on the weights?

Task: 32x32 noise images. Every image has a blue square in one of the three quadrants other than the
top-left (a distractor, present in both classes). Class 1 ("live") also has a white square somewhere
inside the top-left quadrant; class 0 has none. The only evidence for class 1 lies in the top-left
quadrant (25% of the pixels), so a faithful map of the class-1 logit puts most of its mass there.

Model randomisation (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018): re-initialising
the weights must change the map; the Spearman rank correlation between the two maps must be low.

Not every method localises on every architecture: CAMs on the last block of the timm ViT do not
(measured top-left mass 0.19-0.33, see docs/explain.md), so they are not asserted here; the pairs
below are.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from facetrust.explain import explain

SIZE = 32
QUADRANT = SIZE // 2


def make_batch(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 3, SIZE, SIZE, generator=generator) * 0.3
    y = torch.randint(0, 2, (n,), generator=generator)
    for i in range(n):
        quadrant = int(torch.randint(1, 4, (1,), generator=generator))
        qy, qx = divmod(quadrant, 2)
        oy, ox = (int(v) for v in torch.randint(0, 9, (2,), generator=generator))
        x[i, 2, qy * QUADRANT + oy : qy * QUADRANT + oy + 7, qx * QUADRANT + ox : qx * QUADRANT + ox + 7] += 2.5
        oy, ox = (int(v) for v in torch.randint(0, 9, (2,), generator=generator))
        if y[i] == 1:
            x[i, :, oy : oy + 7, ox : ox + 7] += 2.5
    return x, y


class CosineClassifier(torch.nn.Module):
    """An open_clip image tower scored against two fixed class embeddings, like FLIP-IT."""

    def __init__(self, visual: torch.nn.Module, dim: int) -> None:
        super().__init__()
        self.visual = visual
        self.register_buffer("class_embeddings", F.normalize(torch.randn(2, dim), dim=-1))

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 10 * F.normalize(self.encode_image(x), dim=-1) @ self.class_embeddings.t()


def build(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "cnn":
        from facetrust.models import create_model

        return create_model("resnet8", embed_dim=16, image_size=SIZE, widths=(8, 16, 32))
    if kind == "timm-vit":
        import timm

        return timm.create_model("vit_tiny_patch16_224", img_size=SIZE, patch_size=8, depth=2, embed_dim=32,
                                 num_heads=2, num_classes=2)
    from open_clip.transformer import VisionTransformer

    tower = VisionTransformer(image_size=SIZE, patch_size=8, width=32, layers=2, heads=2, mlp_ratio=2, output_dim=16)
    return CosineClassifier(tower, 16)


def train(model: torch.nn.Module, steps: int) -> float:
    generator = torch.Generator().manual_seed(1)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        x, y = make_batch(64, generator)
        loss = F.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    x, y = make_batch(256, torch.Generator().manual_seed(99))
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def randomised(model: torch.nn.Module) -> torch.nn.Module:
    """A copy with every layer re-initialised (its own reset_parameters)."""
    other = copy.deepcopy(model)
    torch.manual_seed(123)
    for module in other.modules():
        if module is not other and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    with torch.no_grad():  # embeddings and tokens that have no reset_parameters
        for name, parameter in other.named_parameters():
            if any(k in name for k in ("class_embedding", "positional_embedding", "cls_token", "pos_embed")):
                parameter.normal_(0, 0.02)
    return other


STEPS = {"cnn": 200, "timm-vit": 200, "open_clip": 200}


@pytest.fixture(scope="module")
def trained():
    models = {}
    for kind, steps in STEPS.items():
        model = build(kind)
        accuracy = train(model, steps)
        assert accuracy > 0.95, f"{kind} did not learn the task (accuracy {accuracy:.3f}); the check would be void"
        models[kind] = (model, randomised(model))
    return models


@pytest.fixture(scope="module")
def live_images():
    x, y = make_batch(48, torch.Generator().manual_seed(7))
    return x[y == 1][:10]


CASES = [
    ("cnn", "gradcam"), ("cnn", "gradcam++"), ("cnn", "layercam"), ("cnn", "eigengradcam"),
    ("timm-vit", "rollout"), ("timm-vit", "clip-relevance"),
    ("open_clip", "rollout"), ("open_clip", "clip-relevance"),
    ("open_clip", "gradcam"), ("open_clip", "gradcam++"), ("open_clip", "layercam"), ("open_clip", "eigengradcam"),
]


# Measured with this exact setup: on the CNN, GradCAM++ (rank correlation 0.62), LayerCAM (0.63) and
# EigenGradCAM (0.65) stay close to the map of a re-initialised network (they follow the bright squares
# of the input, as Adebayo et al. found for several methods); they fail the 0.5 bar and are reported
# in docs/explain.md instead of being asserted.
RANDOMISATION_CASES = [c for c in CASES if c not in {("cnn", "gradcam++"), ("cnn", "layercam"), ("cnn", "eigengradcam")}]


def top_left_mass(heatmap: np.ndarray) -> float:
    return float(heatmap[:QUADRANT, :QUADRANT].sum() / max(heatmap.sum(), 1e-9))


@pytest.mark.slow
@pytest.mark.parametrize("kind,method", CASES)
def test_map_mass_lies_on_the_evidence(trained, live_images, kind, method):
    model, _ = trained[kind]
    masses = [top_left_mass(explain(model, x[None], method, target="live")) for x in live_images]
    assert np.mean(masses) > 0.5, f"{kind}/{method}: mean top-left mass {np.mean(masses):.3f} (chance 0.25)"


@pytest.mark.slow
@pytest.mark.parametrize("kind,method", RANDOMISATION_CASES)
def test_map_changes_when_weights_are_randomised(trained, live_images, kind, method):
    model, random_model = trained[kind]
    correlations = []
    for x in live_images:
        trained_map = explain(model, x[None], method, target="live")
        random_map = explain(random_model, x[None], method, target="live")
        rho = spearmanr(trained_map.ravel(), random_map.ravel())[0]
        if np.isnan(rho):  # a constant map: only the random model's may be constant, and it must differ
            assert np.ptp(trained_map) > 0, f"{kind}/{method}: the trained model's map is constant"
            assert not np.allclose(trained_map, random_map)
            rho = 0.0
        correlations.append(rho)
    assert np.mean(correlations) < 0.5, f"{kind}/{method}: rank correlation {np.mean(correlations):.3f}"


def test_random_baseline_fails_the_evidence_check(live_images):
    """The check is not vacuous: a random map does not pass it."""
    model = build("cnn").eval()
    masses = [top_left_mass(explain(model, x[None], "random")) for x in live_images]
    assert np.mean(masses) < 0.5


def test_gradcam_localises_and_depends_on_the_weights_fast(live_images):
    """Fast version of the two slow checks above (default run): the CNN trained for 80 steps (100 %
    accuracy, ~10 s on one core), GradCAM's mass on the evidence quadrant, and its change under
    re-initialised weights."""
    model = build("cnn")
    assert train(model, 80) > 0.95, "the CNN did not learn the task; the check would be void"
    masses = [top_left_mass(explain(model, x[None], "gradcam", target="live")) for x in live_images]
    assert np.mean(masses) > 0.5, f"mean top-left mass {np.mean(masses):.3f} (chance 0.25)"
    random_model = randomised(model)
    correlations = []
    for x in live_images:
        trained_map = explain(model, x[None], "gradcam", target="live")
        random_map = explain(random_model, x[None], "gradcam", target="live")
        rho = spearmanr(trained_map.ravel(), random_map.ravel())[0]
        if np.isnan(rho):
            assert np.ptp(trained_map) > 0 and not np.allclose(trained_map, random_map)
            rho = 0.0
        correlations.append(rho)
    assert np.mean(correlations) < 0.5, f"rank correlation {np.mean(correlations):.3f}"
