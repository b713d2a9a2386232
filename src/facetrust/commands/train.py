def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a FLIP teacher from an experiment YAML")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    print("facetrust train: not built yet (see issue #5); coming in a later release.", file=sys.stderr)
    return 1
