"""What an exported folder is made of: the sample images an export is checked, calibrated and
compared on (``load_sample_images``) and its ``config.json`` (``write_export_config``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.checkpoint import CONFIG, file_sha256
from facetrust.errors import FacetrustError
from facetrust.export.runtime import ONNX_FILE


def load_sample_images(
    manifest: str | os.PathLike | None, count: int, seed: int = 0, splits: tuple[str, ...] | None = None,
    model=None,
) -> tuple[list[np.ndarray], str]:
    """``count`` RGB images from a manifest (spread over labels and domains; bad files skipped and
    named on stderr), or seeded random images when ``manifest`` is None. Returns (images, source).

    With ``model``, the images are made into what it takes: a model of k stacked crops (input
    channels 3k) gets ``crop_for_model(image, None, its crop)`` per image."""
    if model is not None:
        from facetrust.faces.crop import checkpoint_crop, face_images_as_inputs

        images, source = load_sample_images(manifest, count, seed, splits)
        channels = int(model.preprocess["input_size"][0])
        if channels == 3:
            return images, source
        crop = checkpoint_crop(getattr(model, "checkpoint_config", None) or {}, model.preprocess)
        return face_images_as_inputs(images, crop, channels), f"{source} (stacked crops, box=None)"
    if manifest is None:
        rng = np.random.default_rng(seed)
        return [rng.integers(0, 256, size=(96, 96, 3), dtype=np.uint8) for _ in range(count)], "random"
    import sys

    from facetrust.data import read_image, read_manifest

    df = read_manifest(manifest)
    if splits:
        chosen = df[df["split"].isin(splits)]
        df = chosen if len(chosen) else df
    df = df.sample(frac=1.0, random_state=seed)  # shuffle so labels, domains and species mix
    images = []
    for path in df["abs_path"]:
        if len(images) >= count:
            break
        try:
            images.append(read_image(path))
        except FacetrustError as err:
            print(f"skipped {path}: {err}", file=sys.stderr)
    if not images:
        raise FacetrustError(f"{manifest}: no readable image; check the manifest's paths")
    return images, str(manifest)


def write_export_config(
    folder: Path, checkpoint_config: dict[str, Any], export_info: dict[str, Any], onnx_file: str = ONNX_FILE
) -> Path:
    """``config.json`` of an exported folder: the checkpoint's config, ``export`` info, file hashes."""
    import onnxruntime
    import torch

    from facetrust import atomic

    model_path = folder / onnx_file
    config = {key: value for key, value in checkpoint_config.items() if key != "files"}
    config["export"] = {**export_info, "torch": torch.__version__, "onnxruntime": onnxruntime.__version__}
    config["files"] = {onnx_file: {"bytes": model_path.stat().st_size, "sha256": file_sha256(model_path)}}
    atomic.write_text(folder / CONFIG, json.dumps(config, indent=2, allow_nan=False) + "\n")
    return folder / CONFIG
