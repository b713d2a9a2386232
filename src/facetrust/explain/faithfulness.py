"""Deletion and insertion curves (Petsiuk, Das & Saenko, "RISE", BMVC 2018): is a heatmap faithful?

Pixels are ranked by the heatmap, most relevant first. **Deletion** replaces the top fraction ``f``
of pixels with a baseline (the dataset mean: zero in normalised space) and records the target's score;
a faithful map makes it fall fast (low area under the curve). **Insertion** starts from a blurred copy
and restores the top fraction ``f`` of original pixels; the score should rise fast (high AUC).
Scores are the softmax probability of the explained class (or the raw model output for one-output
models such as prompt similarity). AUC is the trapezoid over ``f`` in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class FaithfulnessCurves:
    fractions: np.ndarray  # (steps + 1,) from 0 to 1
    deletion: np.ndarray  # score after deleting the top fraction
    insertion: np.ndarray  # score after inserting the top fraction

    @property
    def deletion_auc(self) -> float:
        return float(np.trapezoid(self.deletion, self.fractions))

    @property
    def insertion_auc(self) -> float:
        return float(np.trapezoid(self.insertion, self.fractions))


def blurred(x: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
    """Gaussian-blurred copy of a (1, C, H, W) tensor (RISE's insertion start)."""
    from torchvision.transforms.functional import gaussian_blur

    kernel = int(2 * round(3 * sigma) + 1)
    kernel = min(kernel, 2 * (min(x.shape[-2:]) // 2) - 1) if min(x.shape[-2:]) > 2 else 1
    return gaussian_blur(x, [kernel, kernel], [sigma, sigma]) if kernel > 1 else x.clone()


def class_probability(index: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Score function: softmax probability of class ``index`` from (B, K) outputs (raw value if K == 1)."""

    def score(output: torch.Tensor) -> torch.Tensor:
        if output.shape[-1] == 1:
            return output[:, 0]
        return F.softmax(output, dim=-1)[:, index]

    return score


def pixel_order(heatmap: np.ndarray) -> np.ndarray:
    """Flat pixel indices, most relevant first (ties: lower index first)."""
    return np.argsort(-np.asarray(heatmap, dtype=np.float64).ravel(), kind="stable")


def step_masks(order: np.ndarray, hw: tuple[int, int], steps: int) -> torch.Tensor:
    """(steps + 1, 1, H, W) masks; mask k marks the top round(k / steps * H * W) pixels with 1."""
    n_pixels = hw[0] * hw[1]
    counts = np.round(np.linspace(0, n_pixels, steps + 1)).astype(int)
    rank = np.empty(n_pixels, dtype=np.int64)
    rank[order] = np.arange(n_pixels)
    masks = rank[None, :] < counts[:, None]  # (steps + 1, H * W)
    return torch.from_numpy(masks.reshape(steps + 1, 1, *hw).astype(np.float32))


@torch.no_grad()
def _scores(model: nn.Module, batch: torch.Tensor, score_fn: Callable, batch_size: int) -> np.ndarray:
    out = [score_fn(model(batch[i : i + batch_size])).float().cpu() for i in range(0, len(batch), batch_size)]
    return torch.cat(out).numpy()


def deletion_insertion(
    model: nn.Module,
    x: torch.Tensor,
    heatmap: np.ndarray,
    score_fn: Callable[[torch.Tensor], torch.Tensor],
    steps: int = 16,
    batch_size: int = 32,
    deletion_baseline: torch.Tensor | None = None,
    insertion_baseline: torch.Tensor | None = None,
) -> FaithfulnessCurves:
    """Deletion and insertion curves of ``heatmap`` (H, W) for one preprocessed image ``x`` (1, C, H, W)."""
    if tuple(heatmap.shape) != tuple(x.shape[-2:]):
        raise ValueError(f"heatmap {heatmap.shape} does not match the input {tuple(x.shape[-2:])}")
    model.eval()
    masks = step_masks(pixel_order(heatmap), tuple(x.shape[-2:]), steps).to(x.device)
    deleted_value = torch.zeros_like(x) if deletion_baseline is None else deletion_baseline
    start = blurred(x) if insertion_baseline is None else insertion_baseline
    deletion_batch = x * (1 - masks) + deleted_value * masks
    insertion_batch = start * (1 - masks) + x * masks
    return FaithfulnessCurves(
        fractions=np.linspace(0.0, 1.0, steps + 1),
        deletion=_scores(model, deletion_batch, score_fn, batch_size),
        insertion=_scores(model, insertion_batch, score_fn, batch_size),
    )


def evaluate_faithfulness(
    model: nn.Module,
    images: list,
    methods: list[str],
    target: int | str | None = None,
    steps: int = 16,
) -> tuple[dict[str, list[FaithfulnessCurves]], list[tuple[int, str, str]]]:
    """Curves for every (method, image); ``images`` are tensors or RGB arrays.

    The explained class is ``target`` ("spoof", "live", an index) or each image's predicted class.
    Returns ({method: [curves]}, failures); a method that fails on an image is recorded as
    (image index, method, reason) and skipped, the others go on.
    """
    from facetrust.explain import explain
    from facetrust.explain.targets import ClassTarget, as_input_tensor, resolve_target

    device = next(model.parameters()).device
    model.eval()
    results: dict[str, list[FaithfulnessCurves]] = {m: [] for m in methods}
    failures: list[tuple[int, str, str]] = []
    for i, image in enumerate(images):
        x, _ = as_input_tensor(model, image)
        x = x.to(device)
        with torch.no_grad():
            output = model(x)
        chosen = resolve_target(target, output)
        if not isinstance(chosen, ClassTarget):
            raise ValueError("faithfulness explains a class: use target None, 'spoof', 'live' or an index")
        for method in methods:
            try:
                heatmap = explain(model, x, method, target=chosen.index)
            except (TypeError, ValueError, NotImplementedError, RuntimeError) as err:
                failures.append((i, method, f"{type(err).__name__}: {err}"))
                continue
            results[method].append(deletion_insertion(model, x, heatmap, class_probability(chosen.index), steps))
    return results, failures


def faithfulness_table(results: dict[str, list[FaithfulnessCurves]]) -> list[dict]:
    """Per method: mean ± std deletion AUC (lower is better), insertion AUC (higher is better), n."""
    rows = []
    for method, curves in results.items():
        deletion = np.array([c.deletion_auc for c in curves])
        insertion = np.array([c.insertion_auc for c in curves])
        rows.append({
            "method": method, "n": len(curves),
            "deletion_auc": float(deletion.mean()) if len(curves) else float("nan"),
            "deletion_std": float(deletion.std()) if len(curves) else float("nan"),
            "insertion_auc": float(insertion.mean()) if len(curves) else float("nan"),
            "insertion_std": float(insertion.std()) if len(curves) else float("nan"),
        })
    return rows


def table_markdown(rows: list[dict]) -> str:
    """The faithfulness table as Markdown."""
    lines = ["| method | images | deletion AUC (lower is better) | insertion AUC (higher is better) |",
             "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['n']} | {r['deletion_auc']:.3f} ± {r['deletion_std']:.3f} | "
                     f"{r['insertion_auc']:.3f} ± {r['insertion_std']:.3f} |")
    return "\n".join(lines) + "\n"


def plot_curves(path: str, results: dict[str, list[FaithfulnessCurves]]) -> None:
    """Mean deletion and insertion curves per method, side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for method, curves in results.items():
        if not curves:
            continue
        fractions = curves[0].fractions
        left.plot(fractions, np.mean([c.deletion for c in curves], axis=0), label=method)
        right.plot(fractions, np.mean([c.insertion for c in curves], axis=0), label=method)
    for ax, title in ((left, "deletion (lower AUC is better)"), (right, "insertion (higher AUC is better)")):
        ax.set_xlabel("fraction of pixels")
        ax.set_ylabel("score of the explained target")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
