"""A sample grid of a manifest: one row per domain, columns live then each attack species."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def save_sample_grid(manifest: str | os.PathLike, out_png: str | os.PathLike, per_kind: int = 2,
                     cell: int = 112) -> Path:
    """Write a PNG grid (rows = domains, columns = ``per_kind`` videos of live and of each species)."""
    import matplotlib

    matplotlib.use("Agg")
    import cv2
    import matplotlib.pyplot as plt

    from facetrust.data.io import read_image
    from facetrust.data.manifest import read_manifest

    df = read_manifest(manifest)
    domains = list(dict.fromkeys(df["domain"]))
    kinds = ["none"] + sorted(k for k in df["attack_type"].unique() if k != "none")
    fig, axes = plt.subplots(len(domains), len(kinds) * per_kind,
                             figsize=(1.3 * len(kinds) * per_kind, 1.4 * len(domains)), squeeze=False)
    for r, domain in enumerate(domains):
        for k, kind in enumerate(kinds):
            videos = df[(df["domain"] == domain) & (df["attack_type"] == kind)]["video_id"].unique()
            for j in range(per_kind):
                ax = axes[r][k * per_kind + j]
                ax.set_xticks([])
                ax.set_yticks([])
                if j < len(videos):
                    path = df[df["video_id"] == videos[j]]["abs_path"].iloc[0]
                    image = cv2.resize(read_image(path), (cell, cell), interpolation=cv2.INTER_NEAREST)
                    ax.imshow(np.asarray(image))
                if r == 0 and j == 0:
                    ax.set_title("live" if kind == "none" else kind, fontsize=9, loc="left")
                if k == 0 and j == 0:
                    ax.set_ylabel(domain, fontsize=9)
    fig.tight_layout(pad=0.3)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
