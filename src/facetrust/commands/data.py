def register(subparsers) -> None:
    p = subparsers.add_parser("data", help="build, import, prepare and check data sets (manifests, fas-sim, video frames)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    print("facetrust data: not built yet (see issue #3); coming in a later release.", file=sys.stderr)
    return 1
