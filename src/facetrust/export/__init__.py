"""Deployable inference: ONNX export, INT8 quantization, an ONNX Runtime predictor and a benchmark.

- ``facetrust.export.onnx``: ``export_checkpoint`` / ``export_onnx`` / ``onnx_parity`` (PyTorch -> ONNX
  with a dynamic batch axis and a parity check against PyTorch).
- ``facetrust.export.quantize``: ``quantize_int8`` (ONNX Runtime static QDQ for CNNs, dynamic for
  transformers) and ``decision_agreement``.
- ``facetrust.export.runtime``: ``OnnxPredictor``, which needs only onnxruntime, NumPy and OpenCV.
- ``facetrust.export.bench``: the side-by-side benchmark of the teacher and the students.

Names are imported lazily: ``facetrust.export.runtime`` must stay importable without PyTorch.
"""

from __future__ import annotations

from facetrust._lazy import lazy_getattr

_LAZY = {
    "OnnxPredictor": "facetrust.export.runtime",
    "export_checkpoint": "facetrust.export.onnx",
    "export_onnx": "facetrust.export.onnx",
    "onnx_parity": "facetrust.export.onnx",
    "quantize_int8": "facetrust.export.quantize",
    "decision_agreement": "facetrust.export.quantize",
    "run_benchmark": "facetrust.export.bench",
}

__all__ = list(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY)
