"""Example overlays for reports: one live, one print, one replay sample; teacher and student side by side.

``make_gallery(models, manifest, out_png)`` picks the first frame of the first video of each attack
type (``none`` = live) in the chosen domain and split of a manifest (e.g. fas-sim's held-out domain),
explains each model's score with each requested method and writes one labelled grid PNG. The demo and
``docs/explain.md`` use it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from facetrust.explain import explain
from facetrust.explain.overlay import overlay, save_grid
from facetrust.explain.targets import as_input_tensor

Column = tuple[str, str, dict]  # (model name, method, explain() keyword arguments)


def pick_samples(manifest: str | os.PathLike, domain: str | None = None, split: str | None = "test",
                 attack_types: tuple[str, ...] = ("none", "print", "replay")) -> list[tuple[str, Path]]:
    """[(attack_type, image path)]: the first frame of the first video of each attack type."""
    from facetrust.data import read_manifest
    from facetrust.errors import DataError

    manifest = Path(manifest)
    table = read_manifest(manifest)
    if domain is not None:
        table = table[table["domain"] == domain]
    if split is not None:
        table = table[table["split"] == split]
    picked = []
    for kind in attack_types:
        rows = table[table["attack_type"] == kind].sort_values(["video_id", "path"])
        if rows.empty:
            raise DataError(f"{manifest}: no {kind!r} sample in domain={domain} split={split}")
        picked.append((kind, manifest.parent / rows.iloc[0]["path"]))
    return picked


def live_probability(model: nn.Module, image: np.ndarray) -> float:
    x, _ = as_input_tensor(model, image)
    with torch.no_grad():
        return float(torch.softmax(model.eval()(x), dim=1)[0, 1])


def make_gallery(models: dict[str, nn.Module], samples: list[tuple[str, Path]], columns: list[Column],
                 out_png: str | os.PathLike, upscale: int = 2) -> Path:
    """Grid: a row per sample, the image then one overlay per (model, method, options) column."""
    import cv2

    from facetrust.data import read_image

    rows, row_titles = [], []
    for kind, path in samples:
        image = read_image(path)
        big = cv2.resize(image, (image.shape[1] * upscale, image.shape[0] * upscale), interpolation=cv2.INTER_NEAREST)
        cells = [big]
        for model_name, method, options in columns:
            heatmap = explain(models[model_name], image, method, **options)
            heatmap = cv2.resize(heatmap, (big.shape[1], big.shape[0]), interpolation=cv2.INTER_LINEAR)
            cells.append(overlay(big, heatmap))
        scores = "\n".join(f"{name} {live_probability(m, image):.2f}" for name, m in models.items())
        rows.append(cells)
        row_titles.append(f"{'live' if kind == 'none' else kind}\nP(live):\n{scores}")
    titles = ["input"] + [_column_title(*c) for c in columns]
    return save_grid(out_png, rows, row_titles, titles, cell_inches=1.7)


def _column_title(model_name: str, method: str, options: dict) -> str:
    if "prompt" in options:
        import textwrap

        return f"{model_name}: {method}\n" + "\n".join(textwrap.wrap(f"\"{options['prompt']}\"", 24))
    target = options.get("target", "predicted")
    layer = f", {options['layer'].removeprefix('backbone.')}" if "layer" in options else ""
    return f"{model_name}: {method}\n(target: {target}{layer})"
