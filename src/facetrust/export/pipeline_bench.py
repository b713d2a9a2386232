"""Per-frame pipeline benchmark: 640x480 JPEG frames -> decode -> detect -> crop -> classify (ONNX Runtime) -> decision.

Every frame goes through what ``facetrust predict`` and the service run: ``decode_image`` (JPEG bytes,
EXIF checked), the detector, ``facetrust.pipeline.analyze_image`` (the checkpoint's crop, ORT,
threshold). Per stage: mean milliseconds per frame; end to end: mean, p95 and frames per second
(1000 / mean total), for each model x detector x thread count, one configuration after the other.

Frames: a real photo (default the shared live photo ``../shared/real/silent-face/image_T1.jpg``,
upright 480x640; scikit-image's astronaut when absent) scaled to 480 px high and pasted at ``n_frames``
horizontal offsets on a 640x480 grey frame, each JPEG-encoded (quality 90) once, before timing.

Models: ONNX folders (``facetrust export``); a checkpoint folder is exported first (torchscript
exporter, parity checked). Without a student, a random-weight student of the demo's architecture
(MobileNetV3-Small, 32 px, ``configs/distill/demo_mobilenet.yaml``) is saved and exported: the
architecture sets the speed, not the weights.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_PHOTO = Path("../shared/real/silent-face/image_T1.jpg")
DEFAULT_DETECTORS = ("blazeface", "mtcnn", "cascade")
DEMO_STUDENT = ("mobilenetv3_small_100", 32)
FRAME_W, FRAME_H = 640, 480


@dataclass
class PipelineBenchSettings:
    models: dict[str, str] = field(default_factory=dict)  # label -> checkpoint or ONNX folder ("" = demo student)
    detectors: tuple[str, ...] = DEFAULT_DETECTORS
    threads: tuple[int, ...] = (1, 2)
    frames: int = 100
    warmup: int = 5
    n_distinct: int = 8
    photo: str | None = None
    workdir: str | None = None


def make_frames(photo: str | os.PathLike | None = None, n: int = 8) -> tuple[list[bytes], str]:
    """``n`` JPEG-encoded 640x480 frames holding the photo at different offsets; and the photo's name."""
    import cv2

    from facetrust.data.io import read_image

    path = Path(photo) if photo else DEFAULT_PHOTO
    if path.is_file():
        image, source = read_image(path), str(path)
    else:
        if photo:
            from facetrust.errors import DataError

            raise DataError(f"{photo}: file not found (give a photo with a face, or omit --photo)")
        import skimage.data

        image, source = skimage.data.astronaut(), "skimage astronaut"
    scale = FRAME_H / image.shape[0]
    width = min(FRAME_W, int(round(image.shape[1] * scale)))
    resized = cv2.resize(image, (width, FRAME_H), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        canvas = np.full((FRAME_H, FRAME_W, 3), 96, np.uint8)
        x = int(round(i * (FRAME_W - width) / max(1, n - 1)))
        canvas[:, x:x + width] = resized
        ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        frames.append(buffer.tobytes())
    return frames, source


def onnx_folder(source: str, workdir: Path, label: str, log=print) -> Path:
    """An ONNX folder for ``source``: itself when exported, else exported into ``workdir``; "" = demo student."""
    from facetrust.export.onnx import export_checkpoint

    if source and (Path(source) / "model.onnx").is_file():
        return Path(source)
    if not source:
        import torch

        import facetrust
        from facetrust.models import create_model

        torch.manual_seed(0)
        name, size = DEMO_STUDENT
        source = str(facetrust.save(create_model(name, image_size=size), workdir / f"{label}-checkpoint", threshold=0.5,
                                    threshold_strategy="fixed:0.5 (benchmark, random weights)"))
    out = workdir / f"{label}-onnx"
    export_checkpoint(source, out, exporter="torchscript", log=lambda message: log(f"{label}: {message}"))
    return out


def _set_threads(threads: int) -> None:
    import sys

    import cv2

    cv2.setNumThreads(threads)
    if "torch" in sys.modules:  # MTCNN runs on PyTorch
        sys.modules["torch"].set_num_threads(threads)


def time_pipeline(predictor, detector, frames: list[bytes], n: int, warmup: int) -> dict[str, Any]:
    """Run ``warmup + n`` frames through decode -> analyze_image; per-stage means over the last ``n``."""
    from facetrust.data.io import decode_image
    from facetrust.pipeline import StageTimes, analyze_image

    totals, with_face, decided = [], 0, 0
    times = StageTimes()
    for i in range(warmup + n):
        data = frames[i % len(frames)]
        if i == warmup:
            times = StageTimes()
        started = time.perf_counter()
        image = decode_image(data, "frame")
        times.add("decode", started)
        faces = analyze_image(predictor, image, detector=detector, timings=times)
        if i >= warmup:
            totals.append(1000.0 * (time.perf_counter() - started))
            with_face += bool(faces)
            decided += bool(faces) and faces[0].decision is not None
    stages = times.per_frame()
    mean = float(np.mean(totals))
    return {**{k: round(v, 3) for k, v in stages.items() if k != "total_ms"}, "total_ms": round(mean, 3),
            "p95_ms": round(float(np.percentile(totals, 95)), 3), "fps": round(1000.0 / mean, 2),
            "frames": n, "face_rate": round(with_face / n, 3), "decided_rate": round(decided / n, 3)}


def run_pipeline_benchmark(settings: PipelineBenchSettings, log=print) -> dict[str, Any]:
    """Every model x detector x thread count; records, skipped configurations with their reasons."""
    from facetrust.export.bench import machine_info
    from facetrust.export.runtime import OnnxPredictor
    from facetrust.pipeline import create_detector

    frames, source = make_frames(settings.photo, settings.n_distinct)
    workdir = Path(settings.workdir or tempfile.mkdtemp(prefix="facetrust-pipeline-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    models = settings.models or {"student": ""}
    folders = {label: onnx_folder(path, workdir, label, log) for label, path in models.items()}
    records, skipped = [], []
    for detector_name in settings.detectors:
        try:
            detector = create_detector(detector_name)
        except Exception as err:  # a detector whose package or model file is missing is reported, not fatal
            skipped.append({"detector": detector_name, "reason": str(err)})
            log(f"skipped detector {detector_name}: {err}")
            continue
        for threads in settings.threads:
            _set_threads(threads)
            for label, folder in folders.items():
                predictor = OnnxPredictor(folder, threads=threads)
                record = {"model": label, "architecture": predictor.config["architecture"]["name"],
                          "input_size": list(predictor.preprocess["input_size"]), "detector": detector_name,
                          "threads": threads, **time_pipeline(predictor, detector, frames, settings.frames,
                                                              settings.warmup)}
                log(f"{label} + {detector_name}, {threads} thread(s): {record['fps']} frames/s "
                    f"(detect {record['detect_ms']} ms, crop+classify {record['crop_classify_ms']} ms)")
                records.append(record)
    return {"settings": {"frames": settings.frames, "warmup": settings.warmup, "photo": source,
                         "frame_size": [FRAME_W, FRAME_H], "models": {k: str(v) for k, v in folders.items()}},
            "machine": machine_info(max(settings.threads)), "records": records, "skipped": skipped}


def render_pipeline_markdown(result: dict[str, Any]) -> str:
    """The per-stage table, one row per model x detector x threads."""
    s, m = result["settings"], result["machine"]
    lines = [f"Per-frame pipeline, {s['frame_size'][0]}x{s['frame_size'][1]} JPEG frames from {s['photo']}, "
             f"{s['frames']} frames after {s['warmup']} warm-up; {m.get('cpu', '')} "
             f"(load average {' / '.join(f'{v:.2f}' for v in m.get('load_avg_1_5_15', []))}).", "",
             "| model | detector | threads | decode ms | detect ms | crop+classify ms | total ms | p95 ms | frames/s | face found |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["records"]:
        lines.append(f"| {r['model']} ({r['architecture']}, {r['input_size'][-1]} px) | {r['detector']} | {r['threads']} | "
                     f"{r['decode_ms']:.2f} | {r['detect_ms']:.2f} | {r['crop_classify_ms']:.2f} | {r['total_ms']:.2f} | "
                     f"{r['p95_ms']:.2f} | {r['fps']:.1f} | {100 * r['face_rate']:.0f}% |")
    for item in result["skipped"]:
        lines.append(f"\nSkipped detector {item['detector']}: {item['reason']}")
    return "\n".join(lines) + "\n"
