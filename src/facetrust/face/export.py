"""ONNX export of a face backbone: input ``image`` (B, 3, H, W) -> output ``embedding`` (B, D).

Built on ``facetrust.export.onnx`` (same exporters, same parity check on every export): the graph's
output is renamed from ``logits`` to ``embedding``, parity is the largest absolute difference of the
raw embeddings between PyTorch and ONNX Runtime, and the folder's ``config.json`` records the SHA-256
of the source weights so that a gallery enrolled with the checkpoint also works with its export.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.errors import CheckpointError

EMBEDDING_OUTPUT = "embedding"
EMBEDDING_TOLERANCE = 1e-3  # raw (un-normalised) embeddings of magnitude ~1-10


def rename_output(path: Path, new_name: str) -> None:
    import onnx

    proto = onnx.load(str(path))
    old = proto.graph.output[0].name
    if old == new_name:
        return
    for node in proto.graph.node:
        node.output[:] = [new_name if o == old else o for o in node.output]
    proto.graph.output[0].name = new_name
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def export_face_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike, *, calib: str | None = None,
                           opset: int | None = None, exporter: str = "auto", tolerance: float = EMBEDDING_TOLERANCE,
                           parity_samples: int = 8, log=print) -> dict[str, Any]:
    """Write ``out/model.onnx`` + ``config.json`` for a ``task: face`` checkpoint; parity is checked."""
    from facetrust.checkpoint import WEIGHTS, load_model
    from facetrust.export.onnx import (
        ExportError,
        export_onnx,
        load_sample_images,
        onnx_parity,
        write_export_config,
    )
    from facetrust.export.runtime import ONNX_FILE
    from facetrust.predictor import preprocess_images

    out = Path(out)
    if out.resolve() == Path(checkpoint).resolve():
        raise CheckpointError(f"--out {out} is the checkpoint folder itself; choose another folder")
    model = load_model(checkpoint)
    config = model.checkpoint_config
    if config.get("task") != "face":
        raise CheckpointError(f"{checkpoint} is not a face-recognition checkpoint (task {config.get('task')!r})")
    images, source = load_sample_images(calib, parity_samples)
    batch = preprocess_images(images, model.preprocess)
    out.mkdir(parents=True, exist_ok=True)
    info = export_onnx(model, out / ONNX_FILE, opset=opset, exporter=exporter)
    rename_output(out / ONNX_FILE, EMBEDDING_OUTPUT)
    difference = onnx_parity(model, out / ONNX_FILE, batch)
    log(f"parity: max |embedding difference| PyTorch vs ONNX Runtime = {difference:.3e} on {len(images)} "
        f"{source} images (tolerance {tolerance:.0e}; exporter {info['exporter']}, opset {info['opset']})")
    if not np.isfinite(difference) or difference > tolerance:
        (out / ONNX_FILE).unlink(missing_ok=True)
        raise ExportError(f"{out / ONNX_FILE}: ONNX embeddings differ from PyTorch by {difference:.3e} > "
                          f"{tolerance:.0e}; the export is wrong, removed")
    export_info = {**info, "precision": "fp32", "output": EMBEDDING_OUTPUT,
                   "source_checkpoint": str(Path(checkpoint).resolve()),
                   "source_weights_sha256": config["files"][WEIGHTS]["sha256"],
                   "parity": {"max_abs_embedding_diff": difference, "samples": len(images), "images": source,
                              "tolerance": tolerance}}
    write_export_config(out, config, export_info)
    return {"fp32": {"folder": str(out), **export_info}}
