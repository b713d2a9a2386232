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


FAMILIES = {  # the module a registered builder lives in -> what it is
    "facetrust.models.flip": "FLIP teacher (CLIP + FLIP head; clip=NAME below)",
    "facetrust.models.students": "student (timm)",
    "facetrust.models.resnet8": "student",
    "facetrust.models.minifasnet": "MiniFASNet pair (weights: facetrust import silent-face)",
}


def catalogue(pattern: str | None = None) -> list[tuple[str, str]]:
    """(name, family) of every model create_model() builds: registered names, the CLIP sizes FLIP
    takes, and, with a pattern, the timm names and clip_visual:<CLIP> students it resolves."""
    import fnmatch

    import open_clip
    import timm

    from facetrust.models import _import_model_modules
    from facetrust.models.clip import TINY_CONFIGS, clip_names
    from facetrust.models.students import CLIP_VISUAL_PREFIX
    from facetrust.registry import MODELS

    _import_model_modules()
    rows = []
    for name in MODELS.names():
        module = MODELS.get(name).__module__
        family = FAMILIES.get(module, "face-recognition backbone" if ".models.face" in module else module)
        rows.append((name, family))
    for name in clip_names():
        origin = "facetrust's, random init or model.pretrained FILE" if name in TINY_CONFIGS else (
            "open_clip" + (f", tags: {', '.join(open_clip.list_pretrained_tags_by_model(name))}" if pattern else ""))
        if pattern or name in TINY_CONFIGS:
            rows.append((name, f"CLIP for flip_* clip= ({origin})"))
    if pattern:
        registered = {n for n, _ in rows}
        rows += [(n, "student (any timm model)") for n in timm.list_models() if n not in registered]
        rows += [(f"{CLIP_VISUAL_PREFIX}{n}", "student (a CLIP image tower)") for n in clip_names()]
        return [(n, f) for n, f in rows if fnmatch.fnmatch(n, pattern)]
    rows.append((f"<any of timm's {len(timm.list_models())} models>", "student, e.g. facetrust models 'mobilenet*'"))
    rows.append((f"{CLIP_VISUAL_PREFIX}<CLIP>", f"student (a CLIP image tower; {len(clip_names())} CLIP names)"))
    rows.append((f"<any of open_clip's {len(clip_names()) - len(TINY_CONFIGS)} CLIPs>", "CLIP for flip_* clip=, e.g. 'ViT-B-16'"))
    return rows


def run(args) -> int:
    import sys

    if args.pattern == "fetch":
        return fetch(args)
    if args.names or args.source or args.force:
        from facetrust.errors import ConfigError

        raise ConfigError("extra arguments are only for 'facetrust models fetch NAME [--from PATH]'")
    rows = catalogue(args.pattern)
    if not rows:
        print(f"facetrust models: no model matches {args.pattern!r} (a shell-style pattern: 'resnet*', "
              "'*mobilenet*'; 'facetrust models' lists the families)", file=sys.stderr)
        return 1
    width = max(len(n) for n, _ in rows)
    for name, family in rows:
        print(f"{name:<{width}}  {family}")
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
