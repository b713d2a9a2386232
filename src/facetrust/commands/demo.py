TINY_ENV = "FACETRUST_DEMO_TINY"  # =1: a test-sized run of every step (tests/test_clean_output.py)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on the embedded fas-sim benchmark (no download, no GPU)",
        description="Generate fas-sim, pretrain clip-tiny on the captioned corpus, train a FLIP-IT teacher "
        "from it, distil a MobileNet student, evaluate both on a held-out domain with the honest eer@val "
        "threshold, export to ONNX (FP32/INT8), benchmark, explain, detect deepfakes, verify claims about "
        "images, recognise faces, and write report.html. Finished steps are reused.",
    )
    p.add_argument("--out", default="facetrust-demo", help="output folder (default: ./facetrust-demo)")
    p.add_argument("--quick", action="store_true", help="fewer iterations: a smoke run of a few minutes")
    p.add_argument("--force", action="store_true", help="redo every step instead of reusing finished ones")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"), help="where to train")
    p.add_argument("--no-clip-pretrain", dest="clip_pretrain", action="store_false", default=True,
                   help="skip the CLIP pretraining step (by default clip-tiny is pretrained on the captioned "
                   "corpus, cached, and the FLIP teacher starts from it): the teacher starts from random "
                   "weights and the claims step is skipped")
    p.add_argument("--clip-pretrain", dest="clip_pretrain", action="store_true",
                   help="the default (kept so that older command lines still run)")
    from facetrust.console import add_output_flags  # standard library only

    add_output_flags(p, run)  # --quiet / --verbose


def run(args) -> int:
    import os

    from facetrust.console import start_log
    from facetrust.demo.pipeline import DemoSettings, run_demo

    settings = DemoSettings(out=args.out, quick=args.quick, force=args.force, device=args.device,
                            clip_pretrain=args.clip_pretrain, tiny=os.environ.get(TINY_ENV) == "1")
    start_log(settings.out, main=True)  # everything printed and logged, in OUT/facetrust.log
    run_demo(settings)
    return 0
