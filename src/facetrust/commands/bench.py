def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="time the teacher and the students side by side")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    print("facetrust bench: not built yet (see issue #7); coming in a later release.", file=sys.stderr)
    return 1
