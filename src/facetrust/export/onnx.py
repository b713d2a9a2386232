"""PyTorch -> ONNX with a dynamic batch axis, checked against PyTorch on every export.

``export_onnx`` tries the torch.export-based ("dynamo") exporter first, the default since PyTorch 2.9,
and falls back to the TorchScript exporter when it fails, so open_clip ViTs and timm CNNs export in one
call; which one ran is recorded. ``onnx_parity`` runs the same batch through PyTorch and ONNX Runtime and
returns the largest absolute logit difference; ``export_checkpoint`` writes the deployable folder
(``model.onnx`` + ``config.json``) and refuses an FP32 export whose difference exceeds the tolerance.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.errors import CheckpointError, FacetrustError
from facetrust.export.artifacts import load_sample_images, write_export_config  # noqa: F401  (re-exported)
from facetrust.export.runtime import INPUT_NAME, ONNX_FILE, OUTPUT_NAME, make_session
from facetrust.predictor import preprocess_images

FP32_TOLERANCE = 1e-4
EXPORTERS = ("auto", "dynamo", "torchscript")
DEFAULT_OPSET = 18  # the dynamo exporter's native opset; the TorchScript exporter gets 17


class ExportError(FacetrustError):
    """The model could not be exported, or the exported model disagrees with PyTorch."""


def _example_input(model, batch: int = 2):
    import torch

    channels, height, width = model.preprocess["input_size"]
    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch, channels, height, width, generator=generator)


def _export_dynamo(model, example, path: Path, opset: int | None) -> None:
    import torch

    batch = torch.export.Dim("batch", min=1, max=4096)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: batch},), opset_version=opset or DEFAULT_OPSET, dynamo=True,
            external_data=False, verbose=False,
        )


def _export_torchscript(model, example, path: Path, opset: int | None) -> None:
    import torch

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset or 17, dynamo=False,
            do_constant_folding=True,
        )


def export_onnx(model, path: str | os.PathLike, *, opset: int | None = None, exporter: str = "auto") -> dict[str, Any]:
    """Export ``model`` (input ``image`` (B, C, H, W) -> output ``logits``) to ``path``.

    ``exporter``: "dynamo" (torch.export based), "torchscript" (legacy) or "auto" (dynamo, then
    TorchScript if dynamo fails). A re-parameterisable model (``facetrust.models.students.deploy_form``)
    is exported in its folded inference form. Returns ``{"exporter", "opset", "fallback_reason",
    "reparameterized"}``.
    """
    import onnx

    if exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}; choose one of {EXPORTERS}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from facetrust.models.students import deploy_form

    trained = model.eval().float().cpu()
    model = deploy_form(trained)  # MobileOne/RepGhost: folded to their inference form
    example = _example_input(trained)  # batch 2, so the exporter cannot specialise the batch to 1
    fallback_reason = None
    # No torch.no_grad() here: under no_grad, nn.MultiheadAttention (open_clip) takes its fused
    # fast path (aten::_native_multi_head_attention), which the TorchScript exporter cannot export.
    if exporter in ("auto", "dynamo"):
        try:
            _export_dynamo(model, example, path, opset)
            used = "dynamo"
        except Exception as err:  # the dynamo exporter raises many types; keep the reason
            if exporter == "dynamo":
                raise ExportError(f"the dynamo ONNX exporter failed: {err}") from err
            fallback_reason = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
            used = "torchscript"
    else:
        used = "torchscript"
    if used == "torchscript":
        try:
            _export_torchscript(model, example, path, opset)
        except Exception as err:
            raise ExportError(f"the TorchScript ONNX exporter failed: {err}") from err
    proto = onnx.load(str(path), load_external_data=False)
    onnx.checker.check_model(proto)
    opset_used = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"exporter": used, "opset": opset_used, "fallback_reason": fallback_reason,
            "reparameterized": model is not trained}


def torch_logits(model, batch: np.ndarray) -> np.ndarray:
    """Reference logits from PyTorch eager, float32 on CPU."""
    import torch

    with torch.inference_mode():
        return model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).float().numpy()


def onnx_parity(model, onnx_path: str | os.PathLike, batch: np.ndarray, session=None) -> float:
    """Max |PyTorch logits - ONNX Runtime logits| over ``batch``, also at batch size 1.

    Running the full batch and a single sample checks that the batch axis really is dynamic.
    """
    session = session or make_session(onnx_path)
    reference = torch_logits(model, batch)
    exported = session.run(None, {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)})[0]
    single = session.run(None, {INPUT_NAME: np.ascontiguousarray(batch[:1], dtype=np.float32)})[0]
    if exported.shape != reference.shape:
        raise ExportError(f"{onnx_path}: ONNX output shape {exported.shape} != PyTorch {reference.shape}")
    return float(max(np.abs(exported - reference).max(), np.abs(single - reference[:1]).max()))


def export_checkpoint(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    *,
    calib: str | os.PathLike | None = None,
    int8: bool = False,
    int8_mode: str = "auto",
    int8_front: str = "auto",
    int8_reduce_range: bool = True,
    int8_agreement: float | None = None,
    int8_calibration: str = "minmax",
    opset: int | None = None,
    exporter: str = "auto",
    tolerance: float = FP32_TOLERANCE,
    parity_samples: int = 8,
    calib_samples: int = 64,
    agreement_samples: int = 256,
    precision: str | None = None,
    threads: int | None = None,
    timer=None,
    log=print,
) -> dict[str, Any]:
    """Export a checkpoint folder to ``out`` (``model.onnx`` + ``config.json``); with ``int8`` also
    ``out/int8``. Parity with PyTorch is checked on images from ``calib`` (or random ones); an FP32
    difference above ``tolerance`` raises ``ExportError``. Returns the export summary.

    ``precision`` ("auto", "fp32", "int8"; None = the ``int8`` flag's behaviour) makes ``out`` the
    shipped model chosen by ``facetrust.export.precision.ship_precision``: INT8 only when it is faster
    here (``threads``; ``timer`` injects timings in tests) and flips no more val decisions than FP32
    under pixel noise."""
    from facetrust.atomic import atomic_path
    from facetrust.checkpoint import load_model

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"{out} exists and is not a folder; --out must be a folder")
    if out.resolve() == Path(checkpoint).resolve():
        raise CheckpointError(f"--out {out} is the checkpoint folder itself; its config.json would be "
                              "overwritten. Choose another folder")
    model = load_model(checkpoint)
    checkpoint_config = model.checkpoint_config
    images, source = load_sample_images(calib, parity_samples, splits=("val", "test"), model=model)
    batch = preprocess_images(images, model.preprocess)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / ONNX_FILE) as building:  # a killed export leaves the old model.onnx
        info = export_onnx(model, building, opset=opset, exporter=exporter)
    difference = onnx_parity(model, out / ONNX_FILE, batch)
    log(f"parity: max |logit difference| PyTorch vs ONNX Runtime FP32 = {difference:.3e} "
        f"on {len(images)} {source} images (tolerance {tolerance:.0e}; exporter {info['exporter']}, opset {info['opset']})")
    if not np.isfinite(difference) or difference > tolerance:
        (out / ONNX_FILE).unlink(missing_ok=True)
        raise ExportError(
            f"{out / ONNX_FILE}: ONNX Runtime logits differ from PyTorch by {difference:.3e} > {tolerance:.0e}; "
            "the export is wrong, removed. Try --exporter torchscript or another --opset"
        )
    export_info = {
        **info, "precision": "fp32", "source_checkpoint": str(Path(checkpoint).resolve()),
        "parity": {"max_abs_logit_diff": difference, "samples": len(images), "images": source,
                   "tolerance": tolerance},
    }
    write_export_config(out, checkpoint_config, export_info)
    summary: dict[str, Any] = {"fp32": {"folder": str(out), **export_info}}
    int8_options = {"mode": int8_mode, "front": int8_front, "reduce_range": int8_reduce_range,
                    "agreement_target": int8_agreement, "calib_samples": calib_samples,
                    "agreement_samples": agreement_samples, "calibration_method": int8_calibration}
    if precision is not None:  # quantize, choose by measurement, write the shipped folder
        from facetrust.export.precision import ship_precision

        return ship_precision(model, out, checkpoint_config, export_info, summary, precision=precision, calib=calib,
                              int8_options=int8_options, threads=threads, timer=timer, log=log)
    if int8:
        from facetrust.export.precision import export_int8

        summary["int8"] = export_int8(model, out, checkpoint_config, export_info, calib=calib, log=log, **int8_options)
    return summary
