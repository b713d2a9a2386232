def register(subparsers) -> None:
    p = subparsers.add_parser("predict", help="score images or videos with a checkpoint: live or spoof")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    print("facetrust predict: not built yet (see issue #5); coming in a later release.", file=sys.stderr)
    return 1
