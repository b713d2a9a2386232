def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list the models create_model() can build")
    p.add_argument("pattern", nargs="?", help="shell-style filter, e.g. 'flip*'")
    p.set_defaults(func=run)


def run(args) -> int:
    from facetrust.models import list_models

    for name in list_models(args.pattern):
        print(name)
    return 0
