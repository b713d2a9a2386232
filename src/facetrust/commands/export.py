def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a checkpoint to ONNX (FP32 or INT8)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    print("facetrust export: not built yet (see issue #7); coming in a later release.", file=sys.stderr)
    return 1
