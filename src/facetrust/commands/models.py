"""``facetrust models [PATTERN]`` lists the models create_model() can build;
``facetrust models fetch blazeface [--from PATH]`` puts a model file that no wheel installs into the cache."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "models", help="list the models create_model() can build; 'models fetch blazeface' gets a detector file",
        description="List the models create_model() can build (optionally filtered by PATTERN), or, with "
        "'fetch NAME', put a model file in the cache: blazeface comes from the mediapipe==0.10.21 wheel "
        "(pip download, SHA-256 checked) or from --from PATH. Cache: $FACETRUST_HOME/models, else "
        "~/.cache/facetrust/models.")
    p.add_argument("pattern", nargs="?", help="shell-style filter, e.g. 'flip*'; or the word 'fetch'")
    p.add_argument("names", nargs="*", help="after 'fetch': the model files to fetch (default: all; blazeface)")
    p.add_argument("--from", dest="source", metavar="PATH",
                   help="after 'fetch': take the file, or a mediapipe wheel, from PATH instead of downloading")
    p.add_argument("--force", action="store_true", help="after 'fetch': fetch again even if the cache has it")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.pattern == "fetch":
        return fetch(args)
    if args.names or args.source or args.force:
        from facetrust.errors import ConfigError

        raise ConfigError("extra arguments are only for 'facetrust models fetch NAME [--from PATH]'")
    from facetrust.models import list_models

    for name in list_models(args.pattern):
        print(name)
    return 0


def fetch(args) -> int:
    from facetrust.errors import ConfigError
    from facetrust.faces.fetch import MODEL_FILES, fetch_model

    names = args.names or sorted(MODEL_FILES)
    if args.source and len(names) != 1:
        raise ConfigError("--from PATH takes one model name, e.g. 'facetrust models fetch blazeface --from FILE'")
    for name in names:
        path = fetch_model(name, source=args.source, force=args.force)
        print(f"{name}: {path} ({MODEL_FILES[name].licence}, sha256 {MODEL_FILES[name].sha256[:16]}...)")
    return 0
