"""``facetrust bench [--quick] [--json OUT] [--md OUT]``: teacher vs students, PyTorch vs ORT FP32/INT8;
``facetrust bench --pipeline``: per-frame decode -> detect -> crop -> classify -> decision at 640x480."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="time the teacher and the students side by side",
        description="Time the FLIP teacher (CLIP ViT-B/16, 224 px, random weights) and the students in one "
        "run, each alone in rotating blocks (--timing): params, GFLOPs, latency p50 with p10-p90 and its "
        "spread over the blocks at batch 1, throughput at batch 32, for "
        "PyTorch eager, ONNX Runtime FP32 and INT8, with the speed-up over the teacher; plus "
        "teacher-naive (prompts re-encoded on every call).",
    )
    p.add_argument("--quick", action="store_true", help="fewer rounds (a couple of minutes on 2 cores)")
    p.add_argument("--json", default=None, metavar="OUT", help="write the records as JSON")
    p.add_argument("--md", default=None, metavar="OUT", help="write the Markdown tables")
    p.add_argument("--models", default=None,
                   help="comma-separated students (default: resnet8, mobilenetv3_small_100, "
                   "mobilenetv3_large_100, efficientnet_lite0, vit_tiny_patch16_224)")
    p.add_argument("--checkpoints", nargs="+", default=None, metavar="CKPT",
                   help="time these checkpoints (any task, e.g. a deepfake teacher and its ResNet8) side by side, "
                        "each at its own input size, PyTorch and ORT FP32, instead of the FLIP benchmark")
    p.add_argument("--clip", default="ViT-B-16", help="open_clip model of the teacher (default ViT-B-16)")
    p.add_argument("--threads", type=int, default=None, help="threads for PyTorch and ORT (default: all cores)")
    p.add_argument("--batch", type=int, default=32, help="batch size for throughput (default 32)")
    p.add_argument("--rounds", type=int, default=None,
                   help="least timed calls per model at batch 1 (default 30, quick 8); a fast model gets more")
    p.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="seconds of timed calls per model at batch 1 with --timing blocks (default 3, quick 1; "
                   "0: exactly --rounds)")
    p.add_argument("--rounds-batch", type=int, default=None,
                   help="timing rounds at the throughput batch (default 3, quick 1; 0: latency only)")
    p.add_argument("--no-teacher-int8", action="store_true",
                   help="do not build the ViT-B/16 teacher's INT8 (minutes of export and quantization); the "
                   "students' INT8 is then compared with the teacher's FP32 ONNX (as the demo does)")
    p.add_argument("--calib", default=None, metavar="MANIFEST",
                   help="manifest for INT8 calibration and agreement (default: a small generated fas-sim)")
    p.add_argument("--exporter", choices=("auto", "dynamo", "torchscript"), default="torchscript",
                   help="ONNX exporter (default torchscript: same ORT speed, much faster to export)")
    p.add_argument("--timing", choices=("blocks", "phased", "interleaved"), default="blocks",
                   help="blocks (default): each model alone in stretches of consecutive calls, as deployed, "
                   "rounds by a time budget, stretches in rotating blocks, waiting for the previous model's "
                   "threads to stop spinning; phased: PyTorch and ORT never run together, models call by call "
                   "within a backend; interleaved: every runner in turn, ORT spinning off (older methods, for "
                   "comparison). Recorded in the JSON")
    g = p.add_argument_group("per-frame pipeline (--pipeline)")
    g.add_argument("--pipeline", action="store_true",
                   help="time 640x480 frames through decode -> detect -> crop -> classify (ORT) -> decision instead")
    g.add_argument("--student", default=None, metavar="CKPT",
                   help="student checkpoint or ONNX folder (default: the demo's MobileNetV3-Small, 32 px, random weights)")
    g.add_argument("--minifasnet", default=None, metavar="CKPT",
                   help="also an imported MiniFASNet checkpoint (facetrust import silent-face) or its ONNX export")
    g.add_argument("--detectors", default=None, help="comma-separated detectors (default blazeface,mtcnn,cascade)")
    g.add_argument("--pipeline-threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    g.add_argument("--frames", type=int, default=100, help="timed frames per configuration (default 100)")
    g.add_argument("--photo", default=None, help="photo with a face for the frames (default: the shared live photo)")
    from facetrust.console import add_output_flags  # standard library only

    add_output_flags(p, run)  # --quiet / --verbose


def run_pipeline(args) -> int:
    import json
    import sys
    from pathlib import Path

    from facetrust.export.pipeline_bench import (
        DEFAULT_DETECTORS,
        PipelineBenchSettings,
        render_pipeline_markdown,
        run_pipeline_benchmark,
    )

    models = {"student": args.student or ""}
    if args.minifasnet:
        models["minifasnet"] = args.minifasnet
    detectors = tuple(d.strip() for d in args.detectors.split(",") if d.strip()) if args.detectors else DEFAULT_DETECTORS
    threads = tuple(int(t) for t in args.pipeline_threads.split(",") if t.strip())
    settings = PipelineBenchSettings(models=models, detectors=detectors, threads=threads, frames=args.frames,
                                     warmup=min(5, max(1, args.frames // 10)), photo=args.photo)
    result = run_pipeline_benchmark(settings, log=lambda message: print(message, file=sys.stderr))
    markdown = render_pipeline_markdown(result)
    print(markdown)
    for path, text in ((args.json, json.dumps(result, indent=2) + "\n"), (args.md, markdown)):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
            print(f"wrote {path}", file=sys.stderr)
    return 0 if result["records"] else 1


def run_checkpoints(args) -> int:
    """Trained checkpoints timed side by side (``facetrust.export.bench.time_models``)."""
    import sys
    from pathlib import Path

    from facetrust.checkpoint import load_model
    from facetrust.export.bench import time_models, time_models_markdown

    models = {}
    for path in args.checkpoints:
        model = load_model(path)
        label = f"{model.architecture['name']} ({'/'.join(Path(path).resolve().parts[-4:])})"
        models[label if label not in models else f"{label} #{len(models) + 1}"] = model
    rounds = args.rounds or (8 if args.quick else 30)
    result = time_models(models, batch=args.batch, rounds_b1=rounds, rounds_bn=args.rounds_batch or max(2, rounds // 10),
                         threads=args.threads, exporter=args.exporter if args.exporter != "auto" else "torchscript",
                         log=lambda message: print(message, file=sys.stderr), method=args.timing,
                         **({} if args.budget is None else {"budget_b1_s": args.budget}))
    markdown = time_models_markdown(result)
    print(markdown)
    if args.md:
        Path(args.md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.md).write_text(markdown)
    if args.json:
        import json

        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def run(args) -> int:
    import json
    import sys
    from pathlib import Path

    from facetrust.console import progress_enabled
    from facetrust.export.bench import STUDENTS, BenchSettings, render_markdown, run_benchmark

    if args.pipeline:
        return run_pipeline(args)
    if args.checkpoints:
        return run_checkpoints(args)

    students = tuple(s.strip() for s in args.models.split(",") if s.strip()) if args.models else STUDENTS
    overrides = {"clip": args.clip, "students": students, "threads": args.threads, "batch": args.batch,
                 "calib": args.calib, "exporter": args.exporter, "progress": progress_enabled(),
                 "timing_method": args.timing}
    if args.rounds:
        overrides["rounds_b1"] = args.rounds
    if args.rounds_batch is not None:
        overrides["rounds_bn"] = args.rounds_batch
    if args.no_teacher_int8:
        overrides["int8_teacher"] = False
    if args.budget is not None:
        overrides["budget_b1_s"] = args.budget
    settings = BenchSettings.quick_settings(**overrides) if args.quick else BenchSettings(**overrides)
    result = run_benchmark(settings, log=lambda message: print(message, file=sys.stderr))
    markdown = render_markdown(result)
    print(markdown)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.md:
        Path(args.md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.md).write_text(markdown)
        print(f"wrote {args.md}", file=sys.stderr)
    return 0
