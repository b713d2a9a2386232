"""``facetrust demo``: the whole pipeline on the embedded fas-sim benchmark, resumable step by step.

generate fas-sim -> pretrain clip-tiny on the captioned corpus (``--no-clip-pretrain`` skips it) ->
train a FLIP-IT teacher from it (one leave-one-domain-out fold) -> distil a MobileNet student with the KD recipe -> evaluate both on the held-out domain with the honest threshold
(eer@val on source validation) -> export the student to ONNX FP32 and INT8 -> time teacher and
student -> explain a few samples -> deepfake detection, claim verification, face recognition ->
``report.html``.

Every step writes ``steps/<name>.json``; a second run reuses finished steps unless ``force``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facetrust import atomic
from facetrust.demo.claims_step import step_claims
from facetrust.demo.clip_step import is_stale as clip_is_stale
from facetrust.demo.clip_step import step_clip
from facetrust.demo.deepfake_step import step_deepfake
from facetrust.demo.face_step import step_face

TARGET = "cctv"  # the held-out capture domain of the demo's fold
STUDENT = "mobilenetv3_small_100"
# The distillation recipe of the demo: hard labels + logit KD + CLIP-KD feature distillation + CRD +
# RKD distance (see docs/results.md, "Distillation", for the comparison this comes from).
KD_LOSSES = {"ce": 1.0, "kd_kl": 1.0, "feature": 50.0, "crd": 1.0, "rkd_distance": 1.0}


@dataclass
class DemoSettings:
    out: Path
    quick: bool = False
    force: bool = False
    device: str = "auto"
    seed: int = 0
    image_size: int = 64
    subjects_per_domain: int = 25  # with fewer, the tiny teacher overfits its few training subjects
    frames_per_video: int = 3
    # The student sees the teacher's 64 px: in benchmarks/students_frontier.py (4 folds x 3 seeds) the
    # MobileNetV3-Small student at 64 px beat itself at 32 px on held-out AUC (88.9 vs 85.1) and HTER
    # (23.7 vs 24.7) for 0.2 ms more per face (docs/results.md, "Students frontier").
    student_image_size: int = 64
    teacher_iterations: int = 300
    student_iterations: int = 80
    bench_rounds: int = 30
    # Pretrain clip-tiny on the captioned corpus and start the teacher from it: on fas-sim's held-out
    # domain the pretrained FLIP-IT teacher beats the random one (docs/results.md, "FLIP from a
    # pretrained CLIP"), and the claims step needs a CLIP that understands text.
    clip_pretrain: bool = True
    clip_iterations: int = 300
    clip_subjects: int = 200
    clip_images_per_subject: int = 8
    eval_bootstrap: int = 1000  # bootstrap resamples of the evaluation step's intervals
    # Test-sized (FACETRUST_DEMO_TINY=1 for the CLI; tests/test_clean_output.py): implies quick and runs
    # every step at about the smallest size that still works. Its numbers mean nothing.
    tiny: bool = False

    def __post_init__(self) -> None:
        self.out = Path(self.out).resolve()  # step records hold paths: make them valid from any folder
        self.quick = self.quick or self.tiny
        if self.quick:
            self.teacher_iterations, self.student_iterations, self.bench_rounds = 60, 20, 8
            self.clip_iterations, self.clip_subjects = 40, 60
        if self.tiny:
            self.subjects_per_domain, self.frames_per_video = 4, 1
            self.teacher_iterations, self.student_iterations, self.bench_rounds = 3, 3, 2
            self.clip_iterations, self.clip_subjects, self.clip_images_per_subject = 3, 10, 2
            self.eval_bootstrap, self.student_image_size = 20, 32


@dataclass
class Context:
    settings: DemoSettings
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: Callable[[str], None] = print

    @property
    def out(self) -> Path:
        return self.settings.out

    def accelerator(self) -> str:
        import torch

        if self.settings.device == "auto":
            return "gpu" if torch.cuda.is_available() else "cpu"
        return self.settings.device


# ---------------------------------------------------------------------------------------------- steps
def step_data(ctx: Context) -> dict[str, Any]:
    from facetrust.data import make_fas_sim, read_manifest
    from facetrust.data.sim.grid import save_sample_grid

    folder = ctx.out / "fas-sim"
    manifest = make_fas_sim(folder, seed=ctx.settings.seed, image_size=ctx.settings.image_size,
                            subjects_per_domain=ctx.settings.subjects_per_domain,
                            frames_per_video=ctx.settings.frames_per_video)
    df = read_manifest(manifest)
    grid = save_sample_grid(manifest, ctx.out / "figures" / "fas_sim_grid.png")
    counts = (df.groupby(["domain", "attack_type"]).size().unstack(fill_value=0)).reset_index()
    return {
        "manifest": str(manifest), "grid": str(grid), "images": len(df), "videos": int(df["video_id"].nunique()),
        "subjects": int(df["subject_id"].nunique()), "domains": sorted(df["domain"].unique()),
        "counts": counts.to_dict(orient="records"),
    }


def _common_sections(ctx: Context) -> dict[str, Any]:
    return {
        "data": {"manifest": ctx.results["data"]["manifest"], "cache_images": True},
        "protocol": {"kind": "leave_one_out", "targets": [TARGET]},
        "trainer": {"accelerator": ctx.accelerator(), "devices": 1, "precision": "32-true",
                    "num_threads": 0, "progress_bar": True},
        "eval": {"threshold": "eer@val", "select": "val_auc", "n_bootstrap": 0 if ctx.settings.tiny else 200},
        "seeds": [ctx.settings.seed],
    }


def _single_run(summary: dict[str, Any]) -> dict[str, Any]:
    (runs,) = summary["runs"].values()
    return runs[0]


def step_teacher(ctx: Context) -> dict[str, Any]:
    from facetrust.config import from_dict, to_dict
    from facetrust.tasks.fas import train_fas
    from facetrust.tasks.fas_config import FasExperiment

    iterations = ctx.settings.teacher_iterations
    config = from_dict(FasExperiment, {
        **_common_sections(ctx),
        "name": "demo_teacher",
        "model": {"name": "flip_it", "clip": "clip-tiny", "pretrained": ctx.results.get("clip", {}).get("weights")},
        "train": {"iterations": iterations, "per_group": 3, "optimizer": "adamw", "lr": 1e-3,
                  "weight_decay": 0.05, "warmup_iterations": max(1, iterations // 10), "schedule": "cosine",
                  "augment": False, "freeze": ["clip.token_embedding"], "val_every": max(10, iterations // 6)},
        "out": str(ctx.out / "teacher"),
    }, "demo teacher config")
    run = _single_run(train_fas(config))
    return {"checkpoint": run["checkpoint"], "protocol": run["protocol"], "train_seconds": run["train_seconds"],
            "best_step": run["best_step"], "config": to_dict(config)}


def step_student(ctx: Context) -> dict[str, Any]:
    from facetrust.config import from_dict, to_dict
    from facetrust.tasks.distill import distill
    from facetrust.tasks.distill_config import DistillExperiment

    iterations = ctx.settings.student_iterations
    config = from_dict(DistillExperiment, {
        **_common_sections(ctx),
        "name": "demo_student",
        "teacher": {"checkpoint": ctx.results["teacher"]["checkpoint"], "cache": True},
        "student": {"name": STUDENT, "image_size": ctx.settings.student_image_size},
        "losses": KD_LOSSES,
        "train": {"iterations": iterations, "per_group": 3, "optimizer": "adamw", "lr": 3e-3,
                  "weight_decay": 1e-4, "schedule": "cosine", "augment": False,
                  "val_every": max(5, iterations // 4)},
        "out": str(ctx.out / "student"),
    }, "demo student config")
    run = _single_run(distill(config))
    return {"checkpoint": run["checkpoint"], "protocol": run["protocol"], "train_seconds": run["train_seconds"],
            "config": to_dict(config)}


def inference_model(checkpoint: str):
    """A checkpoint's model as deployed: eval mode, FLIP's text tower dropped (inference never runs it)."""
    import facetrust

    model = facetrust.load_model(checkpoint)
    if hasattr(model, "drop_text_tower"):
        model.drop_text_tower()
    return model


def _evaluate_checkpoint(ctx: Context, checkpoint: str, name: str) -> dict[str, Any]:
    from facetrust.data import ImageDataset, read_manifest, split_protocol
    from facetrust.data.protocols import Protocol
    from facetrust.data.transforms import eval_transform
    from facetrust.evaluate import ScoreSet, evaluate
    from facetrust.report import write_report
    from facetrust.tasks.fas import predict_scores

    model = inference_model(checkpoint)
    df = read_manifest(ctx.results["data"]["manifest"])
    sources = tuple(d for d in ctx.results["data"]["domains"] if d != TARGET)
    _, val_df, test_df = split_protocol(df, Protocol(f"{''.join(s[0].upper() for s in sources)}-{TARGET}", sources, TARGET))
    transform = eval_transform(model.preprocess)
    val = ScoreSet.from_table(val_df, predict_scores(model, ImageDataset(val_df, transform)), "+".join(sources))
    test = ScoreSet.from_table(test_df, predict_scores(model, ImageDataset(test_df, transform)), TARGET)
    result = evaluate(test, "eer@val", val=val, n_bootstrap=ctx.settings.eval_bootstrap, seed=ctx.settings.seed)
    paths = write_report(result, ctx.out / "eval" / name)
    stored = model.threshold
    return {"report": {k: str(v) for k, v in paths.items()}, "result": result.to_dict(),
            "stored_threshold": stored, "params": sum(p.numel() for p in model.parameters())}


def step_evaluate(ctx: Context) -> dict[str, Any]:
    return {role: _evaluate_checkpoint(ctx, ctx.results[role]["checkpoint"], role) for role in ("teacher", "student")}


def step_export(ctx: Context) -> dict[str, Any]:
    # The TorchScript exporter gives the same graphs here and exports 10-40x faster than dynamo on 2 cores.
    from facetrust.export.onnx import export_checkpoint

    manifest = ctx.results["data"]["manifest"]
    sizes = {"calib_samples": 8, "agreement_samples": 16} if ctx.settings.tiny else {}
    student = export_checkpoint(ctx.results["student"]["checkpoint"], ctx.out / "export" / "student",
                                calib=manifest, int8=True, exporter="torchscript", log=ctx.log, **sizes)
    teacher = export_checkpoint(ctx.results["teacher"]["checkpoint"], ctx.out / "export" / "teacher",
                                calib=manifest, int8=False, exporter="torchscript", log=ctx.log, **sizes)
    return {"student": student, "teacher": teacher}


def step_bench(ctx: Context) -> dict[str, Any]:
    """Teacher and student as trained here, timed round-robin in one run (batch 1 and 32), each at
    its own input size."""
    import numpy as np
    import torch

    from facetrust.export.bench import (
        Runner,
        count_gflops,
        machine_info,
        ort_call,
        time_round_robin,
        torch_call,
    )
    from facetrust.export.runtime import make_session

    exports = ctx.results["export"]
    runners, input_sizes = [], {}
    for role in ("teacher", "student"):
        model = inference_model(ctx.results[role]["checkpoint"])
        input_sizes[role] = tuple(model.preprocess["input_size"])
        params = sum(p.numel() for p in model.parameters())
        gflops = count_gflops(model, torch.zeros(1, *input_sizes[role]))
        calls = {"torch": torch_call(model)}
        for precision in ("fp32", "int8"):
            if precision in exports[role]:
                onnx_file = Path(exports[role][precision]["folder"]) / "model.onnx"
                calls[f"ort-{precision}"] = ort_call(make_session(onnx_file))
        runners += [Runner(role, backend, call, params, gflops) for backend, call in calls.items()]
    rng = np.random.default_rng(0)
    records = []
    for batch, rounds in ((1, ctx.settings.bench_rounds), (32, max(2, ctx.settings.bench_rounds // 10))):
        inputs = {role: rng.standard_normal((batch, *size)).astype(np.float32) for role, size in input_sizes.items()}
        # Every runner gets its own model's input; the shared batch argument only sets the batch size.
        own_input = [Runner(r.model, r.backend, lambda _, call=r.call, x=inputs[r.model]: call(x), r.params, r.gflops)
                     for r in runners]
        times = time_round_robin(own_input, inputs["student"], rounds, 2, True, f"batch {batch}")
        for runner, seconds in zip(runners, times, strict=True):
            ms = np.asarray(seconds) * 1000.0
            p50 = float(np.percentile(ms, 50))
            records.append({"model": runner.model, "backend": runner.backend, "batch": batch,
                            "input": "x".join(map(str, input_sizes[runner.model][1:])),
                            "latency_ms_p50": round(p50, 3), "latency_ms_p95": round(float(np.percentile(ms, 95)), 3),
                            "throughput_ips": round(batch * 1000.0 / p50, 1), "params": runner.params,
                            "gflops": round(runner.gflops, 4)})
    teacher_p50 = {(r["backend"], r["batch"]): r["latency_ms_p50"] for r in records if r["model"] == "teacher"}
    for record in records:
        # INT8 is compared with the teacher's FP32 ONNX when the teacher has no INT8 export.
        reference = teacher_p50.get((record["backend"], record["batch"])) or teacher_p50[("ort-fp32", record["batch"])]
        record["speedup_vs_teacher"] = round(reference / record["latency_ms_p50"], 2)
    return {"machine": machine_info(torch.get_num_threads()), "records": records}


def step_bench_real(ctx: Context) -> dict[str, Any]:
    """The architectures at deployment size: FLIP on CLIP ViT-B/16 (224 px, random weights: the
    architecture sets the speed) against the student's architecture, via ``facetrust bench``."""
    from facetrust.export.bench import BenchSettings, run_benchmark

    # One backend at a time (facetrust.export.timing), so fewer rounds give stable medians; the teacher's
    # INT8 (minutes of ViT-B/16 export and quantization) is not built: the student's INT8 is compared with
    # the teacher's FP32 ONNX.
    # Batch 1 only: the claim is latency; ViT-B/16's batch-32 throughput cost most of this step's time.
    settings = BenchSettings.quick_settings(students=(STUDENT,), calib=ctx.results["data"]["manifest"],
                                            int8_teacher=False, agreement_samples=16, rounds_bn=0)
    if not ctx.settings.quick:
        settings.rounds_b1 = 10
    if ctx.settings.tiny:  # the same code path on clip-tiny's 64 px instead of ViT-B/16's 224 px
        settings.clip, settings.rounds_b1, settings.calib_samples, settings.agreement_samples = "clip-tiny", 2, 8, 8
        settings.budget_b1_s = 0.05
    result = run_benchmark(settings, log=ctx.log)
    return {"machine": result["machine"], "settings": result["settings"], "records": result["records"]}


def step_explain(ctx: Context) -> dict[str, Any]:
    """Heatmaps on one live, one print and one replay frame of the held-out domain."""
    import facetrust
    from facetrust.data import read_image, read_manifest
    from facetrust.explain import explain
    from facetrust.explain.overlay import overlay, save_grid

    df = read_manifest(ctx.results["data"]["manifest"])
    test = df[df["domain"] == TARGET]
    samples = [test[test["attack_type"] == kind].iloc[0] for kind in ("none", "print", "replay")]
    teacher = facetrust.load_model(ctx.results["teacher"]["checkpoint"])
    student = facetrust.load_model(ctx.results["student"]["checkpoint"])
    columns = [("teacher", teacher, "clip-relevance"), ("teacher", teacher, "gradcam"), ("student", student, "gradcam")]
    rows, titles = [], []
    for row in samples:
        image = read_image(row["abs_path"])
        kind = "live" if row["attack_type"] == "none" else row["attack_type"]
        cells = [image]
        for _, model, method in columns:
            target = 1 if kind == "live" else 0
            cells.append(overlay(image, explain(model, image, method, target=target)))
        rows.append(cells)
        titles.append(f"{kind} ({row['video_id']})")
    headers = ["input"] + [f"{role}: {method}" for role, _, method in columns]
    png = save_grid(ctx.out / "figures" / "explain.png", rows, titles, headers)
    return {"figure": str(png), "samples": [str(r["path"]) for r in samples],
            "columns": headers, "target": "the logit of each sample's true class"}


STEPS: list[tuple[str, str, Callable[[Context], dict[str, Any]]]] = [
    ("data", "generate the fas-sim benchmark", step_data),
    ("clip", "pretrain clip-tiny on the captioned corpus (--no-clip-pretrain skips it)", step_clip),
    ("teacher", "train the FLIP-IT teacher (clip-tiny)", step_teacher),
    ("student", f"distil the {STUDENT} student", step_student),
    ("evaluate", f"evaluate both on the held-out domain '{TARGET}' (eer@val)", step_evaluate),
    ("export", "export to ONNX (FP32, INT8) with parity checks", step_export),
    ("bench", "time teacher and student side by side", step_bench),
    ("bench_real", "time the ViT-B/16 teacher and the student architecture at 224 px", step_bench_real),
    ("explain", "explain live, print and replay samples", step_explain),
    ("deepfake", "deepfake detection: tiny teacher -> ResNet8 (KD), metrics, a heatmap", step_deepfake),
    ("claims", "verify true and false claims about held-out images with CLIP, with heatmaps", step_claims),
    ("face", "face recognition: tiny iResNet + ArcFace, LFW protocol, enroll -> identify, dlib-resnet", step_face),
]


def run_demo(settings: DemoSettings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or resume) every step, write ``report.html`` and return the step results."""
    from facetrust.demo.report import build_report, terminal_summary

    ctx = Context(settings, log=log)
    steps_dir = settings.out / "steps"
    steps_dir.mkdir(parents=True, exist_ok=True)
    total = len(STEPS) + 1
    for number, (name, title, function) in enumerate(STEPS, start=1):
        record = steps_dir / f"{name}.json"
        if record.is_file() and not settings.force and not (name == "clip" and clip_is_stale(
                settings, json.loads(record.read_text())["result"])):
            ctx.results[name] = json.loads(record.read_text())["result"]
            log(f"[{number}/{total}] {title}: done in an earlier run, reused (--force to redo)")
            continue
        log(f"[{number}/{total}] {title} ...")
        started = time.perf_counter()
        result = function(ctx)
        seconds = time.perf_counter() - started
        ctx.results[name] = result
        atomic.write_text(record, json.dumps({"seconds": round(seconds, 1), "result": result}, indent=2,
                                             default=_plain))  # a killed run never leaves half a record
        log(f"[{number}/{total}] {title}: {seconds:.0f} s")
        # A redone step invalidates the steps after it.
        for later, _, _ in STEPS[number:]:
            (steps_dir / f"{later}.json").unlink(missing_ok=True)
    log(f"[{total}/{total}] write the report ...")
    timings = {name: json.loads((steps_dir / f"{name}.json").read_text())["seconds"] for name, _, _ in STEPS}
    report = build_report(ctx.results, timings, settings, settings.out / "report.html")
    log(terminal_summary(ctx.results))
    log(f"report: {report}")
    return ctx.results


def _plain(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a step record")
