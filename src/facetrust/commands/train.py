"""``facetrust train CONFIG``: train a FLIP teacher across domains (see facetrust.tasks.fas)."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a FLIP teacher from an experiment YAML",
        description="Train FLIP-V / FLIP-IT / FLIP-MCL on every fold of a cross-domain protocol: model "
        "selection and threshold on source validation, target evaluated last. Writes per-run checkpoints, "
        "result.json files, and summary.json / summary.md (mean ± std over seeds).",
    )
    p.add_argument("config", help="experiment YAML, e.g. configs/demo/flip_it_tiny.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.lr=1e-4 (repeatable)")
    p.add_argument("--seeds", help="comma-separated seeds, e.g. 0,1,2 (overrides the config's seeds)")
    p.add_argument("--out", help="output folder (overrides the config's out)")
    p.set_defaults(func=run)


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
    from facetrust.config import load_config
    from facetrust.tasks.fas import summary_table, train_fas
    from facetrust.tasks.fas_config import FasExperiment

    overrides = list(args.overrides)
    if args.seeds:
        overrides.append(f"seeds=[{','.join(map(str, _seeds(args.seeds)))}]")
    config = load_config(args.config, FasExperiment, overrides)
    result = train_fas(config, args.out)
    print(f"\n{config.model.name} ({config.model.clip}), threshold {config.eval.threshold}, "
          f"seeds {config.seeds}; frame level on the held-out target domain:")
    print(summary_table(result["summary"], "frame"))
    print(f"\nresults in {result['out']} (summary.md, summary.json, <fold>/seed<N>/checkpoint)")
    return 0
