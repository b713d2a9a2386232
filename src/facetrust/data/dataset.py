"""``ImageDataset``: manifest rows -> dicts of tensors for PyTorch / Lightning."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import torch
from torch.utils.data import Dataset

from facetrust.data.io import read_image


class ImageDataset(Dataset):
    """Items are ``dict(image, label, domain, index)``; ``index`` is the row's position in ``df``.

    ``df`` is a validated manifest (``read_manifest``) with ``abs_path``. ``transform`` maps a uint8
    RGB array to a tensor, or to a tuple of tensors (SimCLR views), returned as ``image`` unchanged.
    A file that cannot be read raises ``DataError`` naming it; run ``facetrust data check`` first.
    """

    def __init__(self, df: pd.DataFrame, transform: Callable[[Any], Any],
                 max_pixels: int | None = None) -> None:
        if "abs_path" not in df.columns:
            raise ValueError("ImageDataset needs a manifest read with read_manifest (column 'abs_path')")
        self.paths = df["abs_path"].tolist()
        self.labels = df["label"].astype(int).tolist()
        self.domains = df["domain"].astype(str).tolist()
        self.transform = transform
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image = read_image(self.paths[index], max_pixels=self.max_pixels)
        return {"image": self.transform(image), "label": self.labels[index],
                "domain": self.domains[index], "index": index}

    def groups(self) -> list[tuple[str, int]]:
        """(domain, label) of every item, the grouping ``BalancedBatchSampler`` expects."""
        return list(zip(self.domains, self.labels, strict=True))


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Default-collate tensors; keep domains as a list of strings."""
    from torch.utils.data import default_collate

    batch = default_collate([{k: v for k, v in item.items() if k != "domain"} for item in items])
    batch["domain"] = [item["domain"] for item in items]
    batch["label"] = torch.as_tensor(batch["label"], dtype=torch.long)
    return batch
