"""``facetrust explain``: a heatmap overlay for one image, or a faithfulness table comparing methods.

    facetrust explain CKPT IMAGE --method gradcam [--target spoof|live] [--prompt TEXT] --out map.png
    facetrust explain CKPT --faithfulness MANIFEST_OR_FOLDER_OR_IMAGES --methods gradcam rollout --out report.md

A photo goes through the same path as ``facetrust predict`` (``facetrust.pipeline``): read upright,
the largest face detected (or ``--box``), cropped as the model was trained; the map explains that
crop, the model's input, and the command says the score, the decision and which class it explains.
``--crops`` takes the image as a ready face crop (an image of a prepared manifest).
"""

from __future__ import annotations

import sys

from facetrust.commands._options import add_max_pixels

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
    p.add_argument("--detector", default=None,
                   help="face detector for a photo (default: the checkpoint's, as predict)")
    p.add_argument("--box", default=None, metavar="X,Y,W,H", help="use this face box instead of detecting")
    p.add_argument("--crops", action="store_true",
                   help="the image already is a face crop (as in a prepared manifest): explain it whole")
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
    add_max_pixels(p)
    p.set_defaults(func=run)


def _target(value: str | None):
    """--target as the explainer takes it: None, a logit index or a class name; clear error otherwise."""
    from facetrust.errors import FacetrustError
    from facetrust.explain.targets import CLASS_NAMES

    if value is None:
        return None
    if value.lstrip("-").isdigit():
        return int(value)
    if value.strip().lower().replace("_", " ") not in CLASS_NAMES:
        raise FacetrustError(f"--target {value!r}: use spoof or live (fake or real for deepfake models), or a logit "
                             "index (0 = attack, 1 = bona fide)")
    return value


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


def _face_crop(model, args):
    """(model input crop (H, W, 3k) uint8, FaceResult) of the image's largest face, as ``predict`` makes it."""
    from facetrust.commands.predict import parse_box
    from facetrust.data import read_image
    from facetrust.errors import DataError
    from facetrust.faces.crop import crop_for_model
    from facetrust.pipeline import (
        analyze_crop,
        analyze_image,
        check_box_inside,
        create_detector,
        detector_name_for,
    )
    from facetrust.predictor import TorchPredictor

    image = read_image(args.image)
    predictor = TorchPredictor(model)
    if args.crops:
        return image, analyze_crop(predictor, image)
    boxes = None
    if args.box:
        boxes = [parse_box(args.box)]
        check_box_inside(boxes[0], image.shape, args.image)
    detector = None if boxes else create_detector(detector_name_for(predictor, args.detector))
    faces = analyze_image(predictor, image, detector=detector, boxes=boxes)
    if not faces:
        raise DataError(f"{args.image}: no face found, nothing to explain (give --box x,y,w,h, another --detector, "
                        "or --crops if the image already is a face crop)")
    if faces[0].score is None:
        raise DataError(f"{args.image}: the largest face ({faces[0].box.w:.0f} px) is too small to score")
    return crop_for_model(image, faces[0].box, predictor.crop), faces[0]


def _explained_class(model, face, target) -> str:
    """Which class (or prompt) the map explains, in words."""
    from facetrust.explain.targets import CLASS_NAMES
    from facetrust.pipeline import decision_label

    task = getattr(model, "checkpoint_config", {}).get("task")
    if target is None:
        index, why = int(face.score >= 0.5), "the predicted class, argmax of the logits"
    elif isinstance(target, int):
        index, why = target, "--target"
    else:
        index, why = CLASS_NAMES.get(target.strip().lower().replace("_", " "), -1), "--target"
    name = decision_label(task, bool(index)) if index in (0, 1) else f"output {index}"
    return f"class {name!r} (logit {index}, {why})"


def _explain_one(model, args) -> int:
    import numpy as np

    from facetrust.errors import FacetrustError
    from facetrust.explain import explain
    from facetrust.explain.overlay import overlay, save_png

    if args.out is None:
        raise FacetrustError("--out PNG is required to write the overlay")
    crop, face = _face_crop(model, args)
    target = _target(args.target)
    try:
        heatmap = explain(model, crop, args.method, target=target, prompt=args.prompt)
    except (TypeError, ValueError, NotImplementedError) as err:
        raise FacetrustError(f"{args.method} on {args.checkpoint}: {err}") from err
    path = save_png(args.out, overlay(np.ascontiguousarray(crop[..., :3]), heatmap, alpha=args.alpha))
    what = f"the similarity to the prompt {args.prompt!r}" if args.prompt else _explained_class(model, face, target)
    threshold = "no threshold" if face.threshold is None else f"threshold {face.threshold:.3f}"
    box = ", ".join(f"{v:.0f}" for v in (face.box.x, face.box.y, face.box.w, face.box.h))
    print(f"{args.image}: face [{box}] score {face.score:.3f} (P(bona fide)), decision {face.label} ({threshold})")
    print(f"wrote {path} ({args.method} on the {crop.shape[1]}x{crop.shape[0]} model input crop; the map explains {what})")
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


def _check_inputs(args) -> None:
    """Refuse an exported ONNX folder and a video before any work, saying what to give instead."""
    import json
    from pathlib import Path

    from facetrust.commands.predict import VIDEO_EXTENSIONS
    from facetrust.errors import FacetrustError

    folder = Path(args.checkpoint)
    if (folder / "model.onnx").is_file() and not (folder / "model.safetensors").is_file():
        try:
            source = json.loads((folder / "config.json").read_text()).get("export", {}).get("source_checkpoint")
        except (OSError, ValueError):
            source = None
        hint = f" (this export came from {source})" if source else ""
        raise FacetrustError(f"{folder} is an exported ONNX folder; every explainer (CAMs, rollout, CLIP relevance) "
                             f"needs the PyTorch checkpoint's gradients or attention: give the checkpoint folder{hint}")
    if args.image and Path(args.image).suffix.lower() in VIDEO_EXTENSIONS:
        raise FacetrustError(f"{args.image}: explain takes one image, not a video; save a frame as PNG (or use "
                             "`facetrust predict CKPT VIDEO --annotate OUT.mp4` to see each frame's decision)")
    _target(args.target)


def run(args) -> int:
    from facetrust.checkpoint import load_model
    from facetrust.errors import FacetrustError

    _check_inputs(args)
    model = load_model(args.checkpoint)
    if args.faithfulness:
        return _faithfulness(model, args)
    if args.image is None:
        raise FacetrustError("give an IMAGE to explain, or --faithfulness IMAGES to compare methods")
    return _explain_one(model, args)
