"""``facetrust bench [--quick] [--json OUT] [--md OUT]``: teacher vs students, PyTorch vs ORT FP32/INT8."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="time the teacher and the students side by side",
        description="Time the FLIP teacher (CLIP ViT-B/16, 224 px, random weights) and the students in one "
        "run, round-robin: params, GFLOPs, latency p50/p95 at batch 1, throughput at batch 32, for "
        "PyTorch eager, ONNX Runtime FP32 and INT8, with the speed-up over the teacher; plus "
        "teacher-naive (prompts re-encoded on every call).",
    )
    p.add_argument("--quick", action="store_true", help="fewer rounds (a couple of minutes on 2 cores)")
    p.add_argument("--json", default=None, metavar="OUT", help="write the records as JSON")
    p.add_argument("--md", default=None, metavar="OUT", help="write the Markdown tables")
    p.add_argument("--models", default=None,
                   help="comma-separated students (default: resnet8, mobilenetv3_small_100, "
                   "mobilenetv3_large_100, efficientnet_lite0, vit_tiny_patch16_224)")
    p.add_argument("--clip", default="ViT-B-16", help="open_clip model of the teacher (default ViT-B-16)")
    p.add_argument("--threads", type=int, default=None, help="threads for PyTorch and ORT (default: all cores)")
    p.add_argument("--batch", type=int, default=32, help="batch size for throughput (default 32)")
    p.add_argument("--rounds", type=int, default=None, help="timing rounds at batch 1 (default 30, quick 8)")
    p.add_argument("--rounds-batch", type=int, default=None,
                   help="timing rounds at the throughput batch (default 3, quick 1)")
    p.add_argument("--calib", default=None, metavar="MANIFEST",
                   help="manifest for INT8 calibration and agreement (default: a small generated fas-sim)")
    p.add_argument("--exporter", choices=("auto", "dynamo", "torchscript"), default="torchscript",
                   help="ONNX exporter (default torchscript: same ORT speed, much faster to export)")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import sys
    from pathlib import Path

    from facetrust.export.bench import STUDENTS, BenchSettings, render_markdown, run_benchmark

    students = tuple(s.strip() for s in args.models.split(",") if s.strip()) if args.models else STUDENTS
    overrides = {"clip": args.clip, "students": students, "threads": args.threads, "batch": args.batch,
                 "calib": args.calib, "exporter": args.exporter, "progress": sys.stderr.isatty()}
    if args.rounds:
        overrides["rounds_b1"] = args.rounds
    if args.rounds_batch:
        overrides["rounds_bn"] = args.rounds_batch
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
