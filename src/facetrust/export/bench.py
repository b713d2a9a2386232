"""Side-by-side benchmark: the FLIP teacher and the edge students, PyTorch vs ONNX Runtime FP32 vs INT8.

Everything is timed in one process and one run by ``facetrust.export.timing.time_runners``: each
(model, backend) alone in stretches of consecutive calls, as a deployed process runs it, with rounds
set by a time budget (hundreds of calls for a 3 ms student, a few for the 260 ms teacher), the
stretches in rotating blocks so that load from other processes hits every model alike and ratios stay
fair. Per (model, backend): latency p50 with p10-p90, IQR and the spread of the block medians at
batch 1, throughput at batch 32; params; GFLOPs counted by
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

from facetrust.export.bench_report import (  # noqa: F401  (the tables, re-exported)
    BACKENDS,
    NAIVE,
    TEACHER,
    render_markdown,
    time_models_markdown,
)
from facetrust.export.timing import (  # noqa: F401  (Runner, machine_info, ... re-exported)
    DEFAULT_METHOD,
    MAX_ROUNDS,
    Runner,
    latency_record,
    machine_info,
    ort_call,
    speedup,
    thread_settings,
    time_round_robin,
    time_runners,
    torch_call,
)

STUDENTS = ("resnet8", "mobilenetv3_small_100", "mobilenetv3_large_100", "efficientnet_lite0",
            "vit_tiny_patch16_224")


@dataclass
class BenchSettings:
    """What to time and how long; ``quick`` trades precision for a run of a couple of minutes.

    ``rounds_*`` are the least timed calls per (model, backend); ``budget_*_s`` the seconds of timed calls
    each one gets, so a fast model gets many more (at most ``max_rounds``); 0: exactly ``rounds_*``."""

    clip: str = "ViT-B-16"  # the students take the teacher's input size (224 px for ViT-B-16)
    students: tuple[str, ...] = STUDENTS
    student_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)  # e.g. tiny depth in tests
    threads: int | None = None  # None: all cores
    batch: int = 32
    rounds_b1: int = 30
    rounds_bn: int = 3  # 0: no throughput batch
    budget_b1_s: float = 3.0
    budget_bn_s: float = 3.0
    blocks: int = 5  # the rounds of every model in this many rotating blocks (timing.time_runners)
    max_rounds: int = MAX_ROUNDS
    warmup: int = 2  # untimed calls per runner at batch 1
    warmup_bn: int = 1  # ... and at the throughput batch
    exporter: str = "torchscript"  # same ORT speed as dynamo here, exports 10-40x faster
    calib: str | None = None  # manifest for INT8 calibration/agreement; None: a small fas-sim is generated
    calib_samples: int = 32
    agreement_samples: int = 64  # fas-sim val images (threshold) and test images (agreement); 0: skip
    int8_teacher: bool = True  # the ViT-B/16 teacher's dynamic INT8 (export + quantization take minutes)
    timing_method: str = DEFAULT_METHOD  # facetrust.export.timing: "blocks", or "phased"/"interleaved" (older)
    ort_spinning: bool | None = None  # None: ORT's default (on), except off when interleaved
    progress: bool = True

    @classmethod
    def quick_settings(cls, **overrides: Any) -> BenchSettings:
        defaults = {"rounds_b1": 8, "rounds_bn": 1, "budget_b1_s": 1.0, "budget_bn_s": 0.0, "warmup": 1,
                    "warmup_bn": 0, "calib_samples": 16, "agreement_samples": 32}
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
    # Parity proves the ONNX file is the model timed; 2 images do it for the teacher (8 cost ViT-B/16 ~5 s).
    parity = onnx_parity(model, fp32_path, test[: 2 if name == TEACHER else 8], session=fp32)
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
    """ORT spinning for the settings: as asked, else off when interleaved with PyTorch, else ORT's default
    (on, as deployed)."""
    if settings.ort_spinning is not None:
        return settings.ort_spinning
    return False if settings.timing_method == "interleaved" else None


def _speedups(records: list[dict[str, Any]]) -> None:
    """Fill ``speedup_vs_teacher``: teacher latency / model latency on the same backend and batch (INT8
    against the teacher's FP32 ONNX when the teacher has no INT8), and ``speedup_block_range``: that
    ratio's lowest and highest over the timing blocks (how much it moved within the run)."""
    teacher = {(r["backend"], r["batch"]): r for r in records if r["model"] == TEACHER}
    for record in records:
        reference = teacher.get((record["backend"], record["batch"]))
        if reference is None and record["backend"] == "ort-int8":
            reference = teacher.get(("ort-fp32", record["batch"]))
        ratio = speedup(reference, record) if reference else {"speedup": None, "speedup_block_range": None}
        record["speedup_vs_teacher"], record["speedup_block_range"] = ratio["speedup"], ratio["speedup_block_range"]


def _timing_summary(settings: BenchSettings) -> dict[str, Any]:
    """The method's parameters, for ``thread_settings``."""
    if settings.timing_method != "blocks":
        return {}
    return {"blocks": settings.blocks, "budget_b1_s": settings.budget_b1_s, "budget_bn_s": settings.budget_bn_s,
            "max_rounds": settings.max_rounds, "between_stretches": "wait until the process's threads stop "
            "spinning, then untimed calls for 0.05 s when a call is shorter"}


def _time(runners: list[Runner], batch: np.ndarray, rounds: int, warmup: int, budget_s: float, method: str,
          progress: bool, label: str, blocks: int = 5, max_rounds: int = MAX_ROUNDS) -> list[dict[str, Any]]:
    """``latency_record`` of each runner at ``len(batch)`` images (with its blocks when the method is
    ``"blocks"``): the one timing call of ``run_benchmark`` and ``time_models``."""
    if method == "blocks":
        timings = time_runners(runners, batch, rounds, warmup, budget_s=budget_s, blocks=blocks,
                               max_rounds=max_rounds, progress=progress, label=label)
    else:
        timings = time_round_robin(runners, batch, rounds, warmup, progress, label, method=method)
    return [latency_record(timing, len(batch)) for timing in timings]


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
        plan = ((1, settings.rounds_b1, settings.warmup, settings.budget_b1_s),
                (settings.batch, settings.rounds_bn, settings.warmup_bn, settings.budget_bn_s))
        for batch, rounds, warmup, budget in plan:
            if rounds <= 0:
                continue
            timed = _time(runners, inputs[batch], rounds, warmup, budget, settings.timing_method, settings.progress,
                          f"batch {batch}", settings.blocks, settings.max_rounds)
            for runner, latency in zip(runners, timed, strict=True):
                records.append({"model": runner.model, "backend": runner.backend, "batch": batch, **latency,
                                "params": int(runner.params), "gflops": round(runner.gflops, 4),
                                "speedup_vs_teacher": None, **runner.extra})
    _speedups(records)
    machine["load_avg_after"] = list(os.getloadavg())
    summary = {k: v for k, v in vars(settings).items() if k != "progress"}
    machine["thread_settings"] = thread_settings(threads, settings.timing_method, _spinning(settings) is not False,
                                                 **_timing_summary(settings))
    return {"machine": machine, "settings": {**summary, "image_size": height},
            "records": records}


def time_models(models: dict[str, Any], batch: int = 32, rounds_b1: int = 30, rounds_bn: int = 3,
                warmup: int = 2, threads: int | None = None, exporter: str = "torchscript",
                progress: bool = False, log=print, method: str = DEFAULT_METHOD, budget_b1_s: float = 2.0,
                budget_bn_s: float = 0.0) -> dict[str, Any]:
    """Any models (each at its own input size) timed side by side in one run: PyTorch eager and ONNX
    Runtime FP32 (exported here, parity logged), latency p50 (p10-p90, blocks) at batch 1 and throughput
    at ``batch``, timed as ``run_benchmark`` (at least ``rounds_*`` calls, more to fill ``budget_*_s``);
    params and GFLOPs per model. The first model is the reference of ``speedup_vs_first``; ``method`` as
    ``facetrust.export.timing.time_round_robin``. Returns ``{"machine", "records"}``, the machine with
    its ``thread_settings``."""
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
        for size, rounds, warm, budget in ((1, rounds_b1, warmup, budget_b1_s), (batch, rounds_bn, 1, budget_bn_s)):
            inputs = {name: rng.standard_normal((size, *shape)).astype(np.float32) for name, shape in sizes.items()}
            own = [Runner(r.model, r.backend, lambda _, call=r.call, x=inputs[r.model]: call(x), r.params, r.gflops)
                   for r in runners]  # each model gets its own input; the shared batch argument is unused
            # the shared feed has the first model's shape; latency_record needs only its batch size
            timed = _time(own, next(iter(inputs.values())), rounds, warm, budget, method, progress, f"batch {size}")
            for runner, latency in zip(runners, timed, strict=True):
                records.append({"model": runner.model, "backend": runner.backend, "batch": size,
                                "input": "x".join(map(str, sizes[runner.model][1:])), **latency,
                                "fps": round(size * 1000.0 / latency["latency_ms_p50"], 1), "params": int(runner.params),
                                "gflops": round(runner.gflops, 4), **runner.extra})
    first = next(iter(models))
    reference = {(r["backend"], r["batch"]): r for r in records if r["model"] == first}
    for record in records:
        ratio = speedup(reference[(record["backend"], record["batch"])], record)
        record["speedup_vs_first"], record["speedup_block_range"] = ratio["speedup"], ratio["speedup_block_range"]
    machine["load_avg_after"] = list(os.getloadavg())
    timing_info = {"budget_b1_s": budget_b1_s, "budget_bn_s": budget_bn_s, "blocks": 5} if method == "blocks" else {}
    machine["thread_settings"] = thread_settings(threads, method, method != "interleaved", **timing_info)
    return {"machine": machine, "records": records}
