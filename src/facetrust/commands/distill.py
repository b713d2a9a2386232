def register(subparsers) -> None:
    p = subparsers.add_parser("distill", help="distil a teacher checkpoint into a fast student")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    print("facetrust distill: not built yet (see issue #6); coming in a later release.", file=sys.stderr)
    return 1
