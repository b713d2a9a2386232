def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run the whole pipeline on the embedded fas-sim benchmark (no download, no GPU)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    print("facetrust demo: not built yet (see issue #9); coming in a later release.", file=sys.stderr)
    return 1
