"""``facetrust explain``: a heatmap overlay for one image, or a faithfulness table comparing methods.

    facetrust explain CKPT IMAGE --method gradcam [--target spoof|live] [--prompt TEXT] --out map.png
    facetrust explain CKPT --faithfulness MANIFEST_OR_FOLDER_OR_IMAGES --methods gradcam rollout --out report.md
"""

from __future__ import annotations

import sys

METHOD_CHOICES = ("gradcam", "gradcam++", "layercam", "eigengradcam", "rollout", "clip-relevance", "random")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "explain", help="heatmaps that explain a decision (CAMs, rollout, CLIP relevance)",
        description="Explain a checkpoint's live/spoof score with a heatmap overlay, or compare methods "
        "by deletion/insertion faithfulness on a set of images.",
    )
    p.add_argument("checkpoint", help="checkpoint folder (model.safetensors + config.json)")
    p.add_argument("image", nargs="?", help="image to explain (omit with --faithfulness)")
    p.add_argument("--method", default="gradcam", choices=METHOD_CHOICES, help="explanation method")
    p.add_argument("--target", default=None,
                   help="spoof, live, or a logit index (default: the predicted class)")
    p.add_argument("--prompt", default=None,
                   help="explain the similarity to this text (FLIP/CLIP with a text tower)")
    p.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity in the overlay")
    p.add_argument("--out", default=None,
                   help="overlay PNG (single image) or Markdown report (--faithfulness)")
    p.add_argument("--faithfulness", metavar="IMAGES", nargs="+", default=None,
                   help="a manifest (CSV/Parquet), a folder of images or image files to score methods on")
    p.add_argument("--methods", nargs="+", default=None, choices=METHOD_CHOICES,
                   help="methods to compare (default: all that fit the model, plus random)")
    p.add_argument("--domain", default=None, help="with a manifest: only rows of this domain")
    p.add_argument("--split", default=None, help="with a manifest: only rows of this split (e.g. test)")
    p.add_argument("--limit", type=int, default=32, help="at most this many images for --faithfulness")
    p.add_argument("--steps", type=int, default=16, help="deletion/insertion steps")
    p.add_argument("--plot", default=None, help="also write the mean curves as this PNG")
    p.set_defaults(func=run)


def _target(value: str | None):
    if value is None:
        return None
    return int(value) if value.lstrip("-").isdigit() else value


def _image_paths(sources: list[str], limit: int, domain: str | None = None, split: str | None = None) -> list:
    """Paths from a manifest (optionally one domain / split), a folder or image files (first ``limit``).

    A manifest is sampled evenly over its rows so that every class and attack type is represented."""
    from pathlib import Path

    from facetrust.errors import DataError

    paths: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.suffix.lower() in (".csv", ".parquet"):
            from facetrust.data import read_manifest

            table = read_manifest(path)
            if domain is not None:
                table = table[table["domain"] == domain]
            if split is not None:
                table = table[table["split"] == split]
            if len(table) > limit:
                table = table.iloc[[round(i * (len(table) - 1) / (limit - 1)) for i in range(limit)]] if limit > 1 else table[:1]
            paths += [path.parent / p for p in table["path"]]
        elif path.exists():
            paths.append(path)
        else:
            raise DataError(f"{path}: not found (give a manifest, a folder of images or image files)")
    if not paths:
        raise DataError(f"no images found in {', '.join(sources)}")
    return paths[:limit]


def _explain_one(model, args) -> int:
    from facetrust.data import read_image
    from facetrust.errors import FacetrustError
    from facetrust.explain import explain
    from facetrust.explain.overlay import overlay, save_png

    if args.out is None:
        raise FacetrustError("--out PNG is required to write the overlay")
    image = read_image(args.image)
    try:
        heatmap = explain(model, image, args.method, target=_target(args.target), prompt=args.prompt)
    except (TypeError, ValueError, NotImplementedError) as err:
        raise FacetrustError(f"{args.method} on {args.checkpoint}: {err}") from err
    path = save_png(args.out, overlay(image, heatmap, alpha=args.alpha))
    what = f"prompt {args.prompt!r}" if args.prompt else f"target {args.target or 'predicted class'}"
    print(f"wrote {path} ({args.method}, {what})")
    return 0


def _faithfulness(model, args) -> int:
    from pathlib import Path

    from facetrust.data import read_image
    from facetrust.errors import DataError
    from facetrust.explain.faithfulness import (
        evaluate_faithfulness,
        faithfulness_table,
        plot_curves,
        table_markdown,
    )
    from facetrust.features import find_vit

    methods = args.methods
    if methods is None:
        methods = ["gradcam", "gradcam++", "layercam", "eigengradcam"]
        methods += ["rollout", "clip-relevance"] if find_vit(model) is not None else []
        methods += ["random"]
    images, skipped = [], []
    for path in _image_paths(args.faithfulness, args.limit, args.domain, args.split):
        try:
            images.append(read_image(path))
        except DataError as err:
            skipped.append(str(err))
    results, failures = evaluate_faithfulness(model, images, methods, target=_target(args.target), steps=args.steps)
    report = f"# Faithfulness of explanations: {args.checkpoint}\n\n{len(images)} images, {args.steps} steps.\n\n"
    report += table_markdown(faithfulness_table(results))
    if skipped or failures:
        report += "\n## Skipped\n\n" + "".join(f"- {s}\n" for s in skipped)
        report += "".join(f"- image {i}, {m}: {why}\n" for i, m, why in failures)
    print(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report)
        print(f"wrote {args.out}", file=sys.stderr)
    if args.plot:
        plot_curves(args.plot, results)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0 if images else 2


def run(args) -> int:
    from facetrust.checkpoint import load_model
    from facetrust.errors import FacetrustError

    model = load_model(args.checkpoint)
    if args.faithfulness:
        return _faithfulness(model, args)
    if args.image is None:
        raise FacetrustError("give an IMAGE to explain, or --faithfulness IMAGES to compare methods")
    return _explain_one(model, args)
