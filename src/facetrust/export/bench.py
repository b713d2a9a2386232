"""Side-by-side benchmark: the FLIP teacher and the edge students, PyTorch vs ONNX Runtime FP32 vs INT8.

Everything is timed in one process and one run, round-robin: each timing round calls every
(model, backend) once, so load from other processes hits all of them alike and ratios stay fair.
Per (model, backend): latency p50/p95 at batch 1 and throughput at batch 32; params; GFLOPs counted by
``torch.utils.flop_counter.FlopCounterMode`` (matmul/conv/attention only, 2 FLOPs per multiply-add, so
GFLOPs = 2 x GMACs); speed-up over the teacher on the same backend. ``teacher-naive`` is FLIP's original
inference path, re-encoding the 12 prompts with the text tower on every call (PyTorch only), which shows
what caching the class text embeddings buys.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.export.timing import (  # noqa: F401  (Runner, machine_info, ... re-exported)
    Runner,
    latency_record,
    machine_info,
    ort_call,
    thread_settings,
    time_round_robin,
    torch_call,
)

STUDENTS = ("resnet8", "mobilenetv3_small_100", "mobilenetv3_large_100", "efficientnet_lite0",
            "vit_tiny_patch16_224")
BACKENDS = ("torch", "ort-fp32", "ort-int8")
TEACHER, NAIVE = "teacher", "teacher-naive"


@dataclass
class BenchSettings:
    """What to time and how long; ``quick`` trades precision for a run of a couple of minutes."""

    clip: str = "ViT-B-16"  # the students take the teacher's input size (224 px for ViT-B-16)
    students: tuple[str, ...] = STUDENTS
    student_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)  # e.g. tiny depth in tests
    threads: int | None = None  # None: all cores
    batch: int = 32
    rounds_b1: int = 30
    rounds_bn: int = 3
    warmup: int = 2  # untimed calls per runner at batch 1
    warmup_bn: int = 1  # ... and at the throughput batch
    exporter: str = "torchscript"  # same ORT speed as dynamo here, exports 10-40x faster
    calib: str | None = None  # manifest for INT8 calibration/agreement; None: a small fas-sim is generated
    calib_samples: int = 32
    agreement_samples: int = 64  # fas-sim val images (threshold) and test images (agreement); 0: skip
    int8_teacher: bool = True  # the ViT-B/16 teacher's dynamic INT8 (export + quantization take minutes)
    timing_method: str = "phased"  # facetrust.export.timing: one backend at a time, or "interleaved"
    ort_spinning: bool | None = None  # None: ORT's default (on) when phased, off when interleaved
    progress: bool = True

    @classmethod
    def quick_settings(cls, **overrides: Any) -> BenchSettings:
        defaults = {"rounds_b1": 8, "rounds_bn": 1, "warmup": 1, "warmup_bn": 0, "calib_samples": 16,
                    "agreement_samples": 32}
        return cls(**{**defaults, **overrides})


def count_gflops(fn: Callable, example) -> float:
    """FLOPs of one call (2 per multiply-add; matmul/conv/attention) in units of 1e9.

    Counted with autograd enabled and the "math" attention backend: under no_grad, nn.MultiheadAttention
    (open_clip's ViTs) runs a fused kernel that FlopCounterMode does not see, and the fused CPU
    scaled-dot-product kernels are not counted either; the math path decomposes into counted matmuls.
    """
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    with torch.enable_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        fn(example)
    return counter.get_total_flops() / 1e9


def _build_models(settings: BenchSettings) -> dict[str, Any]:
    """Teacher (FLIP-IT with its text tower, for the naive path) and students sharing its classifier."""
    from facetrust.models import create_model

    teacher = create_model("flip_it", clip=settings.clip).eval()
    models = {TEACHER: teacher}
    image_size = teacher.preprocess["input_size"][1]
    for name in settings.students:
        kwargs = {"embed_dim": teacher.embed_dim, "image_size": image_size,
                  **settings.student_kwargs.get(name, {})}
        student = create_model(name, **kwargs).eval()
        student.set_classifier(teacher)
        models[name] = student
    return models


def _teacher_params(teacher) -> tuple[int, int]:
    """(parameters of the image path, parameters of the whole CLIP incl. the text tower)."""
    from facetrust.models.clip import text_tower_parameters

    total = sum(p.numel() for p in teacher.parameters())
    text = sum(p.numel() for p in text_tower_parameters(teacher.clip))
    return total - text, total


def _calibration_data(settings: BenchSettings, workdir: Path):
    """Manifest rows for calibration (train) and agreement (val for the threshold, test to compare)."""
    from facetrust.data import make_fas_sim, read_image, read_manifest

    manifest = settings.calib or make_fas_sim(workdir / "fas-sim", seed=0, image_size=64, subjects_per_domain=4)
    df = read_manifest(manifest).sample(frac=1.0, random_state=0)  # mix domains, labels and species
    images = {split: [read_image(p) for p in df[df["split"] == split]["abs_path"]] for split in ("train", "val", "test")}
    labels = {split: df[df["split"] == split]["label"].to_numpy() for split in ("val", "test")}
    return str(manifest), images, labels


def _prepare_ort(name: str, model, settings: BenchSettings, workdir: Path, data, log) -> list[Runner]:
    """Export to ONNX (parity checked), quantize to INT8, measure FP32/INT8 decision agreement."""
    import onnx

    from facetrust.export.agreement import decision_agreement, onnx_scores
    from facetrust.export.graph import choose_mode
    from facetrust.export.onnx import export_onnx, onnx_parity
    from facetrust.export.quantize import quantize_int8
    from facetrust.export.runtime import make_session
    from facetrust.metrics.binary import eer
    from facetrust.predictor import preprocess_images

    manifest, images, labels = data
    fp32_path, int8_path = workdir / name / "model.onnx", workdir / name / "int8" / "model.onnx"
    info = export_onnx(model, fp32_path, exporter=settings.exporter)
    spinning = _spinning(settings)
    fp32 = make_session(fp32_path, threads=settings.threads, spinning=spinning)
    count = max(settings.agreement_samples, 8)
    val = preprocess_images(images["val"][:count], model.preprocess)
    test = preprocess_images(images["test"][:count], model.preprocess)
    parity = onnx_parity(model, fp32_path, test[:8], session=fp32)
    fp32_extra = {"parity_max_abs_logit_diff": parity, "exporter": info["exporter"], "opset": info["opset"],
                  "onnx_mb": round(fp32_path.stat().st_size / 2**20, 2)}
    if name == TEACHER and not settings.int8_teacher:
        log(f"{name}: exporter {info['exporter']}, parity {parity:.2e}, INT8 not built (int8_teacher=False)")
        return [Runner(name, "ort-fp32", ort_call(fp32), 0, 0.0, fp32_extra)]
    mode = choose_mode(onnx.load(str(fp32_path), load_external_data=False))
    calibration = preprocess_images(images["train"][: settings.calib_samples], model.preprocess)
    quant = quantize_int8(fp32_path, int8_path, mode=mode, calibration=calibration if mode == "static" else None)
    int8 = make_session(int8_path, threads=settings.threads, spinning=spinning)
    front_info = quant.get("front") or {}  # static mode only
    int8_extra = {"quantization": quant["mode"], "int8_front": front_info.get("choice"),
                  "onnx_mb": round(int8_path.stat().st_size / 2**20, 2),
                  "int8_agreement": None, "agreement_samples": 0}
    # Agreement costs 3 passes over the images; on the ViT-B/16 teacher that is minutes on 2 cores and
    # says little with random weights, so it is measured on the students only.
    if name != TEACHER and settings.agreement_samples > 0:
        # Untrained models have no stored threshold: calibrate one (EER on val), compare decisions on test.
        _, threshold = eer(onnx_scores(fp32, val), labels["val"][: len(val)])
        agreement = decision_agreement(onnx_scores(fp32, test), onnx_scores(int8, test), threshold)
        int8_extra.update({"int8_agreement": agreement["agreement"], "agreement_samples": agreement["samples"],
                           "agreement_images": f"fas-sim test split ({manifest}); threshold = FP32 EER on val"})
    timed = front_info.get("timings_ms")
    front = f" (narrow front {front_info['choice']}; timed ms: {timed})" if timed else ""
    measured = (f"agreement {int8_extra['int8_agreement']:.2%} on {int8_extra['agreement_samples']} fas-sim test images"
                if int8_extra["int8_agreement"] is not None else "agreement not measured")
    log(f"{name}: exporter {info['exporter']}, parity {parity:.2e}, int8 {mode}{front}, {measured}")
    return [Runner(name, "ort-fp32", ort_call(fp32), 0, 0.0, fp32_extra),
            Runner(name, "ort-int8", ort_call(int8), 0, 0.0, int8_extra)]


def _spinning(settings: BenchSettings) -> bool | None:
    """ORT spinning for the settings: as asked, else off when interleaved with PyTorch, default when phased."""
    if settings.ort_spinning is not None:
        return settings.ort_spinning
    return False if settings.timing_method == "interleaved" else None


def _speedups(records: list[dict[str, Any]]) -> None:
    """Fill ``speedup_vs_teacher``: teacher latency / model latency on the same backend and batch (INT8
    against the teacher's FP32 ONNX when the teacher has no INT8)."""
    teacher = {(r["backend"], r["batch"]): r for r in records if r["model"] == TEACHER}
    for record in records:
        reference = teacher.get((record["backend"], record["batch"]))
        if reference is None and record["backend"] == "ort-int8":
            reference = teacher.get(("ort-fp32", record["batch"]))
        record["speedup_vs_teacher"] = (
            round(reference["latency_ms_p50"] / record["latency_ms_p50"], 2) if reference else None
        )


def run_benchmark(settings: BenchSettings, log=print) -> dict[str, Any]:
    """Build, export, quantize and time everything; returns ``{"machine", "settings", "records"}``."""
    import torch

    threads = settings.threads or os.cpu_count() or 1
    settings.threads = threads
    torch.set_num_threads(threads)
    machine = machine_info(threads)
    models = _build_models(settings)
    channels, height, width = models[TEACHER].preprocess["input_size"]
    for name, model in models.items():
        if tuple(model.preprocess["input_size"]) != (channels, height, width):
            raise ValueError(f"{name} takes {model.preprocess['input_size']}, the teacher {(channels, height, width)}")
    rng = np.random.default_rng(0)
    inputs = {b: rng.standard_normal((b, channels, height, width)).astype(np.float32) for b in (1, settings.batch)}
    example = torch.from_numpy(inputs[1])
    runners: list[Runner] = []
    with tempfile.TemporaryDirectory(prefix="facetrust-bench-") as tmp:
        workdir = Path(tmp)
        data = _calibration_data(settings, workdir)
        image_params, clip_params = _teacher_params(models[TEACHER])
        for name, model in models.items():
            params = image_params if name == TEACHER else sum(p.numel() for p in model.parameters())
            gflops = count_gflops(model, example)
            ort_runners = _prepare_ort(name, model, settings, workdir, data, log)
            for runner in [Runner(name, "torch", torch_call(model), params, gflops), *ort_runners]:
                runner.params, runner.gflops = params, gflops
                runners.append(runner)
        teacher = models[TEACHER]
        runners.append(Runner(NAIVE, "torch", torch_call(teacher.forward_naive), clip_params,
                              count_gflops(teacher.forward_naive, example)))
        records = []
        plan = ((1, settings.rounds_b1, settings.warmup), (settings.batch, settings.rounds_bn, settings.warmup_bn))
        for batch, rounds, warmup in plan:
            if rounds <= 0:
                continue
            times = time_round_robin(runners, inputs[batch], rounds, warmup, settings.progress, f"batch {batch}",
                                     method=settings.timing_method)
            for runner, seconds in zip(runners, times, strict=True):
                ms = np.asarray(seconds) * 1000.0
                p50 = float(np.percentile(ms, 50))
                records.append({
                    "model": runner.model, "backend": runner.backend, "batch": batch,
                    "latency_ms_p50": round(p50, 3), "latency_ms_p95": round(float(np.percentile(ms, 95)), 3),
                    "throughput_ips": round(batch * 1000.0 / p50, 2), "params": int(runner.params),
                    "gflops": round(runner.gflops, 4), "speedup_vs_teacher": None, "rounds": rounds,
                    **runner.extra,
                })
    _speedups(records)
    machine["load_avg_after"] = list(os.getloadavg())
    summary = {k: v for k, v in vars(settings).items() if k != "progress"}
    machine["thread_settings"] = thread_settings(threads, settings.timing_method, _spinning(settings) is not False)
    return {"machine": machine, "settings": {**summary, "image_size": height},
            "records": records}


def _cell(record: dict[str, Any] | None, key: str, fmt: str) -> str:
    if record is None:
        return "—"
    speedup = record.get("speedup_vs_teacher")
    return f"{format(record[key], fmt)} (×{speedup:g})" if speedup is not None else format(record[key], fmt)


def render_markdown(result: dict[str, Any]) -> str:
    """Markdown tables (latency at batch 1, throughput at batch N, INT8 agreement) with the machine."""
    records, machine, settings = result["records"], result["machine"], result["settings"]
    index = {(r["model"], r["backend"], r["batch"]): r for r in records}
    models = list(dict.fromkeys(r["model"] for r in records))
    batch = settings["batch"]
    first = {m: next(r for r in records if r["model"] == m) for m in models}
    load = ", ".join(f"{v:.2f}" for v in machine["load_avg_1_5_15"])
    lines = [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['threads']} thread(s) for PyTorch "
        f"and ONNX Runtime; torch {machine['torch']}, onnxruntime {machine['onnxruntime']}, Python "
        f"{machine['python']}; load average at start {load}; "
        f"{machine['date_utc']} UTC. Teacher: FLIP-IT on CLIP {settings['clip']} at "
        f"{settings.get('image_size', '?')} px, random weights. Rounds: {settings['rounds_b1']} at batch 1, "
        f"{settings['rounds_bn']} at batch {batch}, "
        + ("interleaved round-robin (PyTorch and ORT alternating call by call, ORT spinning off)."
           if settings.get("timing_method") == "interleaved" else
           "one backend at a time (PyTorch and ORT never run together), models round-robin within a backend, "
           "backends alternating in 3 blocks (facetrust.export.timing)."),
        "",
        "GFLOPs: matmul/conv FLOPs of one image counted by torch.utils.flop_counter.FlopCounterMode "
        "(2 FLOPs per multiply-add). (×N) = speed-up over the teacher on the same backend.",
        "",
        "| model | params (M) | GFLOPs | PyTorch p50 / p95 ms | ORT FP32 p50 / p95 ms | ORT INT8 p50 / p95 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in models:
        cells = []
        for backend in BACKENDS:
            r = index.get((m, backend, 1))
            cells.append("—" if r is None else f"{_cell(r, 'latency_ms_p50', '.2f')} / {r['latency_ms_p95']:.2f}")
        lines.append(f"| {m} | {first[m]['params'] / 1e6:.2f} | {first[m]['gflops']:.2f} | " + " | ".join(cells) + " |")
    lines += ["", f"Throughput at batch {batch} (images/s):", "",
              "| model | PyTorch | ORT FP32 | ORT INT8 |", "|---|---:|---:|---:|"]
    for m in models:
        cells = [_cell(index.get((m, backend, batch)), "throughput_ips", ".1f") for backend in BACKENDS]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "INT8 (ONNX Runtime) vs FP32:", "",
              "| model | quantization | INT8 / FP32 latency (batch 1) | decision agreement | ONNX MB FP32 → INT8 |",
              "|---|---|---:|---:|---:|"]
    for m in models:
        fp32, int8 = index.get((m, "ort-fp32", 1)), index.get((m, "ort-int8", 1))
        if fp32 is None or int8 is None:
            continue
        ratio = int8["latency_ms_p50"] / fp32["latency_ms_p50"]
        agreement = ("not measured" if int8["int8_agreement"] is None
                     else f"{int8['int8_agreement']:.2%} ({int8['agreement_samples']} images)")
        front = int8.get("int8_front")
        scheme = int8["quantization"] + (f", front {front}" if front in ("fp32", "int8") else "")
        lines.append(f"| {m} | {scheme} | {ratio:.2f} | {agreement} | "
                     f"{fp32['onnx_mb']} → {int8['onnx_mb']} |")
    lines += ["", f"Agreement: {next((r['agreement_images'] for r in records if 'agreement_images' in r), '')}."]
    return "\n".join(lines) + "\n"


def time_models(models: dict[str, Any], batch: int = 32, rounds_b1: int = 30, rounds_bn: int = 3,
                warmup: int = 2, threads: int | None = None, exporter: str = "torchscript",
                progress: bool = False, log=print, method: str = "phased") -> dict[str, Any]:
    """Any models (each at its own input size) timed side by side in one run: PyTorch eager and ONNX
    Runtime FP32 (exported here, parity logged), latency p50/p95 at batch 1 and throughput at ``batch``,
    round-robin as ``run_benchmark``; params and GFLOPs per model. The first model is the reference
    of ``speedup_vs_first``; ``method`` as ``facetrust.export.timing.time_round_robin``. Returns
    ``{"machine", "records"}``, the machine with its ``thread_settings``."""
    import torch

    from facetrust.export.onnx import export_onnx, onnx_parity
    from facetrust.export.runtime import make_session

    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    machine = machine_info(threads)
    rng = np.random.default_rng(0)
    runners, sizes = [], {}
    with tempfile.TemporaryDirectory(prefix="facetrust-time-") as tmp:
        for name, model in models.items():
            model.eval()
            sizes[name] = tuple(model.preprocess["input_size"])
            example = rng.standard_normal((2, *sizes[name])).astype(np.float32)
            params = sum(p.numel() for p in model.parameters())
            gflops = count_gflops(model, torch.from_numpy(example[:1]))
            onnx_file = Path(tmp) / name.replace("/", "_") / "model.onnx"
            info = export_onnx(model, onnx_file, exporter=exporter)
            session = make_session(onnx_file, threads=threads, spinning=False if method == "interleaved" else None)
            parity = onnx_parity(model, onnx_file, example, session=session)
            log(f"{name}: {params / 1e6:.3f}M params, {gflops:.3f} GFLOPs, ONNX parity {parity:.2e} ({info['exporter']})")
            for backend, call in (("torch", torch_call(model)), ("ort-fp32", ort_call(session))):
                runners.append(Runner(name, backend, call, params, gflops, {"parity_max_abs_logit_diff": parity}))
        records = []
        for size, rounds, warm in ((1, rounds_b1, warmup), (batch, rounds_bn, 1)):
            inputs = {name: rng.standard_normal((size, *shape)).astype(np.float32) for name, shape in sizes.items()}
            own = [Runner(r.model, r.backend, lambda _, call=r.call, x=inputs[r.model]: call(x), r.params, r.gflops)
                   for r in runners]  # each model gets its own input; the shared batch argument is unused
            times = time_round_robin(own, next(iter(inputs.values())), rounds, warm, progress, f"batch {size}",
                                     method=method)
            for runner, seconds in zip(runners, times, strict=True):
                ms = np.asarray(seconds) * 1000.0
                p50 = float(np.percentile(ms, 50))
                records.append({"model": runner.model, "backend": runner.backend, "batch": size,
                                "input": "x".join(map(str, sizes[runner.model][1:])),
                                "latency_ms_p50": round(p50, 3), "latency_ms_p95": round(float(np.percentile(ms, 95)), 3),
                                "fps": round(size * 1000.0 / p50, 1), "params": int(runner.params),
                                "gflops": round(runner.gflops, 4), "rounds": rounds, **runner.extra})
    first = next(iter(models))
    reference = {(r["backend"], r["batch"]): r["latency_ms_p50"] for r in records if r["model"] == first}
    for record in records:
        record["speedup_vs_first"] = round(reference[(record["backend"], record["batch"])] / record["latency_ms_p50"], 2)
    machine["load_avg_after"] = list(os.getloadavg())
    machine["thread_settings"] = thread_settings(threads, method, method != "interleaved")
    return {"machine": machine, "records": records}


def time_models_markdown(result: dict[str, Any]) -> str:
    """Markdown table of ``time_models``: params, GFLOPs, FPS at batch 1 and N on PyTorch and ORT FP32."""
    index = {(r["model"], r["backend"], r["batch"]): r for r in result["records"]}
    models = list(dict.fromkeys(r["model"] for r in result["records"]))
    batch = max(r["batch"] for r in result["records"])
    m = result["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['threads']} threads; torch {m['torch']}, onnxruntime "
             f"{m['onnxruntime']}; load average {', '.join(f'{v:.2f}' for v in m['load_avg_1_5_15'])} at start, "
             f"{', '.join(f'{v:.2f}' for v in m.get('load_avg_after', []))} after; {m['date_utc']} UTC. "
             "FPS = images/s at the p50 latency; (xN) = speed-up over the first row on the same backend and batch.", "",
             f"| model | input | params (M) | GFLOPs | PyTorch FPS b1 | ORT FPS b1 | PyTorch FPS b{batch} | ORT FPS b{batch} |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name in models:
        cells = [f"{index[(name, backend, b)]['fps']:.1f} (x{index[(name, backend, b)]['speedup_vs_first']:g})"
                 for b in (1, batch) for backend in ("torch", "ort-fp32")]
        first = index[(name, "torch", 1)]
        lines.append(f"| {name} | {first['input']} | {first['params'] / 1e6:.3f} | {first['gflops']:.3f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
