"""``facetrust distill CONFIG [--set k=v] [--out DIR] [--compare]``: distil a teacher into a student."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "distill", help="distil a teacher checkpoint into a fast student",
        description="Distil a teacher checkpoint (FLIP, or a deepfake teacher with task: deepfake) into a "
        "student (KD, the seed's soft+hard kd, CLIP-KD, RKD, AFD losses weighted in the YAML). With --compare, run benchmarks/distill_compare.py's method comparison instead.",
    )
    p.add_argument("config", nargs="?", help="experiment YAML (see configs/distill/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.iterations=100 (repeatable)")
    p.add_argument("--out", help="output folder (default: the config's out)")
    p.add_argument("--compare", action="store_true",
                   help="compare no KD, every method and a combination on every fold (slow); CONFIG unused")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds for --compare")
    p.add_argument("--resume", action="store_true", help="skip the folds/seeds already finished in the "
                   "output folder (same config only); a resumed run gives the same summary")
    from facetrust.console import add_output_flags  # standard library only

    add_output_flags(p, run)  # --quiet / --verbose


def run(args) -> int:
    from facetrust.resume import request_resume

    request_resume(args.resume)
    import runpy
    from pathlib import Path

    from facetrust.errors import ConfigError

    if args.compare:
        script = Path(__file__).resolve().parents[3] / "benchmarks" / "distill_compare.py"
        if not script.is_file():
            raise ConfigError(f"--compare runs {script}, which ships with the source checkout only; "
                              "clone the repository and run it from there")
        argv = ["--out", args.out or "runs/distill_compare", "--seeds", *map(str, args.seeds)]
        return runpy.run_path(str(script))["main"](argv)
    if not args.config:
        raise ConfigError("facetrust distill needs a CONFIG file, e.g. configs/distill/demo_mobilenet.yaml")
    from facetrust.tasks import read_task, task_module

    module = task_module(read_task(args.config, args.overrides))
    if not hasattr(module, "distill_command"):
        raise ConfigError(f"{args.config}: task {read_task(args.config, args.overrides)!r} has no distillation")
    return module.distill_command(args.config, args.overrides, args.out)
