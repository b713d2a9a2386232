def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on the embedded fas-sim benchmark (no download, no GPU)",
        description="Generate fas-sim, train a FLIP-IT teacher (clip-tiny), distil a MobileNet student, "
        "evaluate both on a held-out domain with the honest eer@val threshold, export to ONNX "
        "(FP32/INT8), benchmark, explain, and write report.html. Finished steps are reused.",
    )
    p.add_argument("--out", default="facetrust-demo", help="output folder (default: ./facetrust-demo)")
    p.add_argument("--quick", action="store_true", help="fewer iterations: a smoke run of a few minutes")
    p.add_argument("--force", action="store_true", help="redo every step instead of reusing finished ones")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"), help="where to train")
    p.add_argument("--clip-pretrain", action="store_true",
                   help="pretrain clip-tiny on the captioned corpus first; the FLIP teacher starts from it")
    from facetrust.console import add_output_flags  # standard library only

    add_output_flags(p, run)  # --quiet / --verbose


def run(args) -> int:
    from facetrust.demo.pipeline import DemoSettings, run_demo

    run_demo(DemoSettings(out=args.out, quick=args.quick, force=args.force, device=args.device,
                          clip_pretrain=args.clip_pretrain))
    return 0
