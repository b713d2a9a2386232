"""The precision that ships: INT8 written beside FP32 and measured against it (``export_int8``).

The flow of ``facetrust export`` is a straight line: ``export.onnx`` exports FP32 and checks parity,
this module quantizes (``export.quantize``), measures agreement (``export.agreement``) and time
(``export.timing``), and writes the folder (``export.artifacts``). Nothing here imports
``export.onnx``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from facetrust.errors import FacetrustError
from facetrust.export.agreement import (
    decision_agreement,
    expected_agreement,
    log_odds,
    onnx_decision_logits,
    onnx_scores,
    pixel_noise,
)
from facetrust.export.artifacts import load_sample_images, write_export_config
from facetrust.export.graph import choose_mode
from facetrust.export.quantize import quantize_int8
from facetrust.export.runtime import ONNX_FILE, make_session
from facetrust.export.timing import time_onnx_files
from facetrust.predictor import preprocess_images


def export_int8(
    model, out: Path, checkpoint_config: dict[str, Any], fp32_info: dict[str, Any], *,
    calib: str | os.PathLike | None, mode: str = "auto", front: str = "auto", reduce_range: bool = True,
    calib_samples: int = 64, agreement_samples: int = 256, agreement_target: float | None = None,
    calibration_method: str = "minmax", log=print,
) -> dict[str, Any]:
    """Write ``out/int8`` (``model.onnx`` + ``config.json``) from ``out/model.onnx`` and report the
    agreement of its decisions with FP32 on held-out images (val/test split of ``calib``).

    ``agreement_target`` (static mode) searches the shortest FP32 prefix of the network whose INT8
    decisions agree with FP32 on at least that share of the *val* images (``quantize_int8``); the
    agreement is then reported on the *test* images only, which the search never saw, and INT8 is
    timed against FP32 here (batch 1, one thread), because the FP32 prefix costs speed."""
    folder = out / "int8"
    folder.mkdir(parents=True, exist_ok=True)
    import onnx

    mode = choose_mode(onnx.load(str(out / ONNX_FILE), load_external_data=False), mode)
    calibration, calib_source = None, None
    if mode == "static":
        calib_images, calib_source = load_sample_images(calib, calib_samples, seed=1, splits=("train",), model=model)
        calibration = preprocess_images(calib_images, model.preprocess)
    threshold = checkpoint_config.get("threshold")
    threshold_note = "stored threshold"
    if threshold is None:
        threshold, threshold_note = 0.5, "no stored threshold: 0.5"
    fp32_session = make_session(out / ONNX_FILE)
    search = None
    report_splits: tuple[str, ...] = ("val", "test")
    if agreement_target is not None and mode != "static":
        log(f"int8 ({mode}): --int8-agreement applies to static (CNN) quantization only; ignored")
    if agreement_target is not None and mode == "static":
        from facetrust.data import read_manifest

        if calib is None or not {"val", "test"} <= set(read_manifest(calib)["split"]):
            raise FacetrustError(f"--int8-agreement needs --calib MANIFEST with val and test splits (got {calib}): "
                                 "the FP32 prefix is chosen on the val images and the agreement reported on the "
                                 "test images")
        val_images, _ = load_sample_images(calib, agreement_samples, seed=2, splits=("val",), model=model)
        val_batch = preprocess_images(val_images, model.preprocess)
        val_fp32 = onnx_decision_logits(fp32_session, val_batch)
        val_detail: dict[str, dict[str, float]] = {}
        cut = log_odds(threshold)

        def search(path: Path) -> float:
            # The smaller of the counted agreement and its smooth estimate, so that a prefix is not chosen
            # because the few images near the threshold happened to stay put on val.
            val_int8 = onnx_decision_logits(make_session(path), val_batch)
            counted = decision_agreement(val_fp32, val_int8, cut)["agreement"]  # same decisions, as log-odds
            expected = expected_agreement(val_fp32, val_int8, threshold)
            val_detail[path.stem] = {"counted": round(counted, 6), "expected": round(expected, 6)}
            return min(counted, expected)

        report_splits = ("test",)
    info = quantize_int8(out / ONNX_FILE, folder / ONNX_FILE, mode=mode, calibration=calibration, front=front,
                         reduce_range=reduce_range, agreement_of=search, calibration_method=calibration_method,
                         agreement_target=agreement_target if agreement_target is not None else 0.99)
    held_out, held_source = load_sample_images(calib, agreement_samples, seed=2, splits=report_splits, model=model)
    batch = preprocess_images(held_out, model.preprocess)
    fp32_scores = onnx_scores(fp32_session, batch)
    int8_scores = onnx_scores(make_session(folder / ONNX_FILE), batch)
    if search is not None:
        prefix = info["fp32_prefix"]
        prefix["val_agreement"] = {name.removeprefix("prefix_"): value for name, value in val_detail.items()}
        timings = time_onnx_files({"fp32": out / ONNX_FILE, "int8": folder / ONNX_FILE}, batch[:1])
        prefix["int8_vs_fp32_time"] = round(timings["int8"] / timings["fp32"], 3)
        held_source = f"{held_source} (test split; the FP32 prefix was chosen on the val split)"
        log(f"int8: first {prefix['fp32_convs']} of {prefix['total_convs']} convolutions kept in FP32 for "
            f"{agreement_target:.2%} agreement on val (tried {prefix['tried']}; target "
            f"{'reached' if prefix['reached'] else 'NOT reached'}); INT8 takes {prefix['int8_vs_fp32_time']:.2f}x "
            "the time of FP32 here (batch 1, one thread)")
    noise_scores = onnx_scores(fp32_session, preprocess_images(pixel_noise(held_out, seed=3), model.preprocess))
    noise_floor = decision_agreement(fp32_scores, noise_scores, threshold)
    agreement = {**decision_agreement(fp32_scores, int8_scores, threshold), "images": held_source,
                 "threshold_source": threshold_note,
                 "fp32_pixel_noise_agreement": noise_floor["agreement"]}
    log(f"int8 ({info['mode']}): decisions agree with FP32 on {agreement['agreement']:.2%} of "
        f"{agreement['samples']} {held_source} images at threshold {threshold:.4f} ({threshold_note}); "
        f"max |score difference| {agreement['max_abs_score_diff']:.3e}. For scale: FP32 keeps its own "
        f"decision on {noise_floor['agreement']:.2%} of them when every pixel moves by one intensity level")
    export_info = {**{k: v for k, v in fp32_info.items() if k != "parity"}, "precision": "int8",
                   "quantization": {**info, "calibration_source": calib_source}, "agreement_with_fp32": agreement}
    write_export_config(folder, checkpoint_config, export_info)
    return {"folder": str(folder), **export_info}


PRECISIONS = ("auto", "fp32", "int8")


def choose_precision(fp32_ms: float, int8_ms: float, int8_flips: int, noise_flips: int) -> tuple[str, str]:
    """The rule of ``--precision auto``: INT8 ships only when it is faster than FP32 here AND flips no
    more val decisions than FP32 flips by itself under +-1-level pixel noise. Returns (precision, reason)."""
    faster = int8_ms < fp32_ms
    agrees = int8_flips <= noise_flips
    timing = f"INT8 {int8_ms:.3f} ms vs FP32 {fp32_ms:.3f} ms"
    flips = (f"INT8 flips {int8_flips} val decisions of FP32, FP32 flips {noise_flips} of its own under "
             "+-1-level pixel noise")
    if faster and agrees:
        return "int8", f"INT8 is faster ({timing}) and flips no more decisions than pixel noise ({flips})"
    why = [f"INT8 is not faster ({timing})"] if not faster else []
    why += [f"INT8 flips more decisions than pixel noise ({flips})"] if not agrees else []
    return "fp32", "; ".join(why)


def measure_precisions(
    model, fp32_path: Path, int8_path: Path, threshold: float, *, calib: str | os.PathLike, samples: int = 256,
    threads: int | None = None, rounds: int = 30, timer=None,
) -> dict[str, Any]:
    """Time FP32 and INT8 here (batch 1, ``threads``; ``timer(paths, batch)`` -> ms per file can be
    injected) and count, on the *val* split of ``calib``, the decisions INT8 flips against FP32 and the
    ones FP32 flips against itself under +-1-level pixel noise."""
    images, source = load_sample_images(calib, samples, seed=2, splits=("val",), model=model)
    batch = preprocess_images(images, model.preprocess)
    fp32_session, int8_session = make_session(fp32_path), make_session(int8_path)
    fp32_scores = onnx_scores(fp32_session, batch)
    int8 = decision_agreement(fp32_scores, onnx_scores(int8_session, batch), threshold)
    noisy = onnx_scores(fp32_session, preprocess_images(pixel_noise(images, seed=3), model.preprocess))
    noise = decision_agreement(fp32_scores, noisy, threshold)
    paths = {"fp32": fp32_path, "int8": int8_path}
    if timer is None:
        ms = time_onnx_files(paths, batch[:1], rounds=rounds, threads=threads or os.cpu_count() or 1)
    else:
        ms = timer(paths, batch[:1])
    precision, reason = choose_precision(ms["fp32"], ms["int8"], int8["disagreements"], noise["disagreements"])
    return {"shipped": precision, "reason": reason,
            "fp32_ms": round(float(ms["fp32"]), 4), "int8_ms": round(float(ms["int8"]), 4),
            "timing": {"batch": 1, "threads": threads or os.cpu_count(), "rounds": rounds,
                       "injected": timer is not None,
                       "method": "blocks (facetrust.export.timing.time_onnx_files), ORT only"},
            "int8_flips": int8["disagreements"], "fp32_pixel_noise_flips": noise["disagreements"],
            "val_samples": int8["samples"], "threshold": float(threshold), "images": f"{source} (val split)"}


def ship(out: Path, precision: str) -> None:
    """Make ``out`` the shipped model: when INT8 ships, FP32 moves to ``out/fp32`` and ``out/int8``'s
    files to ``out``; when FP32 ships, ``out`` stays as it is (INT8, if built, stays in ``out/int8``)."""
    if precision != "int8":
        return
    from facetrust.checkpoint import CONFIG

    reference = out / "fp32"
    reference.mkdir(exist_ok=True)
    for name in (ONNX_FILE, CONFIG):
        (out / name).replace(reference / name)
    for name in (ONNX_FILE, CONFIG):
        (out / "int8" / name).replace(out / name)
    (out / "int8").rmdir()


def _has_val_split(calib: str | os.PathLike | None) -> bool:
    if calib is None:
        return False
    from facetrust.data import read_manifest

    return "val" in set(read_manifest(calib)["split"])


def _record_choice(folder: Path, choice: dict[str, Any]) -> None:
    """Add ``export.precision_choice`` to a written folder's ``config.json`` (hashes unchanged)."""
    import json

    from facetrust import atomic
    from facetrust.checkpoint import CONFIG

    config = json.loads((folder / CONFIG).read_text())
    config["export"]["precision_choice"] = choice
    atomic.write_text(folder / CONFIG, json.dumps(config, indent=2, allow_nan=False) + "\n")


def ship_precision(
    model, out: Path, checkpoint_config: dict[str, Any], fp32_info: dict[str, Any], summary: dict[str, Any], *,
    precision: str, calib: str | os.PathLike | None, int8_options: dict[str, Any], threads: int | None = None,
    rounds: int = 30, timer=None, log=print,
) -> dict[str, Any]:
    """``--precision auto|fp32|int8`` after the FP32 export: build INT8 when it may ship, measure both
    (``measure_precisions``), record the choice and its numbers in ``config.json`` under
    ``export.precision_choice`` and make ``out`` the shipped model (``ship``)."""
    if precision not in PRECISIONS:
        raise FacetrustError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    choice: dict[str, Any] = {"requested": precision}
    measurable = _has_val_split(calib)
    if precision == "fp32" or (precision == "auto" and not measurable):
        reason = ("forced by --precision fp32" if precision == "fp32" else
                  "no --calib manifest with a val split: INT8 was not calibrated or measured, FP32 ships")
        choice.update(shipped="fp32", reason=reason)
    else:
        summary["int8"] = export_int8(model, out, checkpoint_config, fp32_info, calib=calib, log=log, **int8_options)
        threshold = checkpoint_config.get("threshold")
        threshold = 0.5 if threshold is None else float(threshold)
        if measurable:
            choice.update(measure_precisions(model, out / ONNX_FILE, out / "int8" / ONNX_FILE, threshold, calib=calib,
                                             samples=int8_options.get("agreement_samples", 256), threads=threads,
                                             rounds=rounds, timer=timer))
        if precision == "int8":
            measured = f" (auto would ship {choice['shipped']}: {choice['reason']})" if measurable else ""
            choice.update(shipped="int8", reason=f"forced by --precision int8{measured}")
        _record_choice(out / "int8", choice)
    _record_choice(out, choice)
    ship(out, choice["shipped"])
    if choice["shipped"] == "int8":
        summary["fp32"]["folder"], summary["int8"]["folder"] = str(out / "fp32"), str(out)
    log(f"precision: {choice['shipped']} ships in {out} ({choice['reason']})")
    summary["shipped"] = {"folder": str(out), **choice}
    for key in ("fp32", "int8"):
        if key in summary:
            summary[key]["precision_choice"] = choice
    return summary
