def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate a checkpoint on a manifest with an honest threshold")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    print("facetrust eval: not built yet (see issue #4); coming in a later release.", file=sys.stderr)
    return 1
