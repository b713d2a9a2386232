"""``facetrust train CONFIG``: train a model for the YAML's ``task`` (fas, deepfake, ...; facetrust.tasks)."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a model (FLIP teacher, deepfake teacher, ...) from an experiment YAML",
        description="Train the model of an experiment YAML for its task (top-level 'task:': fas, the "
        "default, or deepfake; see facetrust.tasks): FLIP-V / FLIP-IT / FLIP-MCL or any registered "
        "backbone (e.g. efficientnet_b7) on every fold of a protocol: model selection and threshold on "
        "validation data, test data evaluated last. Writes per-run checkpoints, result.json files, and "
        "summary.json / summary.md (mean ± std over seeds).",
    )
    p.add_argument("config", help="experiment YAML, e.g. configs/demo/flip_it_tiny.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.lr=1e-4 (repeatable)")
    p.add_argument("--seeds", help="comma-separated seeds, e.g. 0,1,2 (overrides the config's seeds)")
    p.add_argument("--out", help="output folder (overrides the config's out)")
    p.add_argument("--resume", action="store_true", help="skip the folds/seeds already finished in the "
                   "output folder (same config only); a resumed run gives the same summary")
    from facetrust.console import add_output_flags  # standard library only

    add_output_flags(p, run)  # --quiet / --verbose


def _seeds(text: str) -> list[int]:
    from facetrust.errors import ConfigError

    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected comma-separated integers, e.g. 0,1,2") from None
    if not seeds:
        raise ConfigError("--seeds needs at least one seed")
    return seeds


def run(args) -> int:
    from facetrust.resume import request_resume

    request_resume(args.resume)
    from facetrust.tasks import read_task, task_module

    overrides = list(args.overrides)
    if args.seeds:
        overrides.append(f"seeds=[{','.join(map(str, _seeds(args.seeds)))}]")
    return task_module(read_task(args.config, overrides)).train_command(args.config, overrides, args.out)
