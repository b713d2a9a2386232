def register(subparsers) -> None:
    p = subparsers.add_parser("explain", help="heatmaps that explain a decision (CAMs, rollout, CLIP relevance)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    print("facetrust explain: not built yet (see issue #8); coming in a later release.", file=sys.stderr)
    return 1
