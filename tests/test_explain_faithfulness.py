"""Deletion / insertion curves against a naive per-step loop, and on a model whose evidence is known."""

from __future__ import annotations

import numpy as np
import torch

from facetrust.explain.faithfulness import (
    blurred,
    class_probability,
    deletion_insertion,
    evaluate_faithfulness,
    faithfulness_table,
    plot_curves,
    table_markdown,
)


class RegionModel(torch.nn.Module):
    """Logits [0, 4 * (mean of channel 0 over the top-left 8x8 block - 0.5)]: evidence known by construction."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        live = 4 * (x[:, 0, :8, :8].mean(dim=(1, 2)) - 0.5) + self.dummy
        return torch.stack([torch.zeros_like(live), live], dim=1)


def naive_curves(model, x, heatmap, index, steps, deletion_value, insertion_start):
    """One image per step, pixels removed/added one at a time in a Python loop."""
    h, w = heatmap.shape
    flat = heatmap.ravel()
    order = sorted(range(h * w), key=lambda i: (-flat[i], i))
    deletion, insertion = [], []
    for k in range(steps + 1):
        count = int(round(k * h * w / steps))
        deleted, inserted = x.clone(), insertion_start.clone()
        for pixel in order[:count]:
            r, c = divmod(pixel, w)
            deleted[..., r, c] = deletion_value[..., r, c]
            inserted[..., r, c] = x[..., r, c]
        with torch.no_grad():
            deletion.append(torch.softmax(model(deleted), dim=1)[0, index].item())
            insertion.append(torch.softmax(model(inserted), dim=1)[0, index].item())
    return np.array(deletion), np.array(insertion)


def test_curves_match_the_naive_loop():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(4, 2)).eval()
    x = torch.randn(1, 3, 12, 10)
    heatmap = np.random.default_rng(0).random((12, 10)).astype(np.float32)
    heatmap[0, :4] = heatmap[0, 0]  # ties are broken by pixel index in both implementations
    curves = deletion_insertion(model, x, heatmap, class_probability(1), steps=7)
    deletion, insertion = naive_curves(model, x, heatmap, 1, 7, torch.zeros_like(x), blurred(x))
    np.testing.assert_allclose(curves.deletion, deletion, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(curves.insertion, insertion, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(curves.deletion_auc, np.trapezoid(deletion, np.linspace(0, 1, 8)), rtol=1e-6)
    assert curves.deletion[0] == curves.insertion[-1]  # both are the untouched image


def test_the_true_evidence_map_scores_better_than_random_and_inverted_maps():
    model = RegionModel().eval()
    x = 0.1 * torch.rand(1, 3, 32, 32)
    x[:, 0, :8, :8] = 1.5  # the evidence; blurring (insertion's start) and deletion both remove it
    oracle = np.zeros((32, 32), dtype=np.float32)
    oracle[:8, :8] = 1.0
    random = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    inverted = 1.0 - oracle
    score = class_probability(1)
    good, rand, bad = (deletion_insertion(model, x, m, score, steps=16) for m in (oracle, random, inverted))
    assert good.deletion_auc < rand.deletion_auc < bad.deletion_auc
    assert good.insertion_auc > rand.insertion_auc > bad.insertion_auc


def test_evaluate_table_and_plot(tmp_path):
    import timm

    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2,
                              num_classes=2).eval()
    images = [torch.randn(1, 3, 32, 32) for _ in range(2)]
    results, failures = evaluate_faithfulness(model, images, ["gradcam", "rollout", "random"], steps=4)
    assert failures == []
    rows = faithfulness_table(results)
    assert [r["method"] for r in rows] == ["gradcam", "rollout", "random"]
    assert all(r["n"] == 2 and 0.0 <= r["deletion_auc"] <= 1.0 for r in rows)
    markdown = table_markdown(rows)
    assert "| rollout | 2 |" in markdown
    plot_curves(str(tmp_path / "curves.png"), results)
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_a_method_that_does_not_fit_the_model_is_skipped_and_recorded():
    model = RegionModel().eval()
    results, failures = evaluate_faithfulness(model, [torch.rand(1, 3, 32, 32)], ["rollout", "random"], steps=4)
    assert results["rollout"] == [] and len(results["random"]) == 1
    assert failures and failures[0][1] == "rollout" and "vision transformer" in failures[0][2]
