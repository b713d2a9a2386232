"""``OnnxPredictor``: an exported folder (``model.onnx`` + ``config.json``) run by ONNX Runtime.

Needs onnxruntime, NumPy and OpenCV only, never PyTorch, so a deployed model can ship without it.
The folder's ``config.json`` is the checkpoint's config (preprocessing, class names, threshold and how
it was chosen) plus an ``export`` section (opset, exporter, precision, parity, INT8 agreement) and
the size and SHA-256 of ``model.onnx``, checked before the file is loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.checkpoint import read_config, verify_file
from facetrust.errors import CheckpointError
from facetrust.predictor import Predictor

ONNX_FILE = "model.onnx"
INPUT_NAME = "image"
OUTPUT_NAME = "logits"


def session_options(threads: int | None = None, spinning: bool | None = None):
    """ORT session options; ``threads`` caps intra-op threads (None = ORT's default, all cores);
    ``spinning=False`` stops idle intra/inter-op threads from spinning (None = ORT's default, on), for a
    process that also runs PyTorch (``facetrust.export.timing``)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: no [W:onnxruntime ... Removing initializer] lines
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    if spinning is not None:
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "1" if spinning else "0")
    return options


def make_session(path: str | os.PathLike, threads: int | None = None, providers: list[str] | None = None,
                 spinning: bool | None = None):
    """An ``onnxruntime.InferenceSession`` on CPU (or the given providers) for an ONNX file."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(
            str(path), session_options(threads, spinning), providers=providers or ["CPUExecutionProvider"]
        )
    except Exception as err:  # ORT raises its own Fail/InvalidGraph/NoSuchFile types
        raise CheckpointError(f"{path}: ONNX Runtime cannot load this model: {err}") from err


class OnnxPredictor(Predictor):
    """A ``facetrust.predictor.Predictor`` backed by ONNX Runtime.

    ``folder`` holds ``model.onnx`` and ``config.json`` as written by ``facetrust export``;
    ``threads`` caps ORT's intra-op threads; ``providers`` defaults to the CPU provider.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        threads: int | None = None,
        providers: list[str] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.config: dict[str, Any] = read_config(self.folder)
        record = self.config["files"].get(ONNX_FILE)
        if record is None:
            raise CheckpointError(
                f"{self.folder / 'config.json'} records no {ONNX_FILE}; this is not an exported folder "
                "(run `facetrust export CKPT --out DIR`)"
            )
        model_path = verify_file(self.folder, ONNX_FILE, record)
        self.session = make_session(model_path, threads=threads, providers=providers)
        preprocess = self.config["preprocess"]
        self.preprocess = {
            **preprocess,
            "input_size": tuple(int(v) for v in preprocess["input_size"]),
            "mean": tuple(float(v) for v in preprocess["mean"]),
            "std": tuple(float(v) for v in preprocess["std"]),
        }
        self.threshold = self.config.get("threshold")
        self.threshold_strategy = self.config.get("threshold_strategy")
        self.class_names = tuple(self.config["class_names"])
        self.precision = self.config.get("export", {}).get("precision", "fp32")
        self.input_name = self.session.get_inputs()[0].name

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """(B, C, H, W) float32 preprocessed batch -> (B, 2) logits [attack, bona fide]."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.ndim != 4 or tuple(batch.shape[1:]) != self.preprocess["input_size"]:
            raise ValueError(
                f"{self.folder}: expected a batch of shape (B, {', '.join(map(str, self.preprocess['input_size']))}), "
                f"got {batch.shape}; use predictor.scores(images) to preprocess RGB images"
            )
        return self.session.run(None, {self.input_name: batch})[0]

    def __repr__(self) -> str:
        return f"OnnxPredictor({str(self.folder)!r}, precision={self.precision!r}, threshold={self.threshold})"
