def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="HTTP service (not built yet: exits with status 1)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    print("facetrust serve: not built yet (see issue #10); coming in a later release.", file=sys.stderr)
    return 1
