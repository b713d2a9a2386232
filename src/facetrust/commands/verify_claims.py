"""``facetrust verify-claims``: is what a text says about an image supported by it (CLIP)?

    facetrust verify-claims MODEL IMAGE --claim "The background is blue" [--claim ...] [--json] [--report out.html]
    facetrust verify-claims MODEL IMAGE --answer-file answer.txt      # split into atomic claims first
    facetrust verify-claims MODEL IMAGE --caption CAPTIONER_DIR       # verify a captioner's caption (plug-in)
    facetrust verify-claims MODEL --calibrate claims.csv              # fit the thresholds on labelled claims

MODEL: a checkpoint folder with a CLIP text side, a CLIP-pretraining ``.safetensors``, or an open_clip
name with ``--pretrained``.
"""

from __future__ import annotations

import json
import sys
import warnings


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "verify-claims", help="check text claims about an image with CLIP (supported / unsupported / uncertain)",
        description="Score each claim about an image with CLIPScore and a contrast test, on the whole image and on "
        "each face, and decide it with thresholds calibrated on labelled validation claims.",
    )
    p.add_argument("model", help="checkpoint folder, CLIP .safetensors, or open_clip name (with --pretrained)")
    p.add_argument("image", nargs="?", help="the image the claims are about")
    p.add_argument("--claim", action="append", default=[], help="a claim (repeat for several); used as given")
    p.add_argument("--answer-file", default=None, help="a text file (an answer) split into atomic claims")
    p.add_argument("--caption", default=None, metavar="MODEL_DIR",
                   help="verify the caption of this local transformers image-to-text model (plug-in)")
    p.add_argument("--caption-prompt", default=None, help="prompt for a chat captioner (e.g. LLaVA)")
    p.add_argument("--splitter", default="rules", help="claim splitter for answers (rules, sentences)")
    p.add_argument("--pretrained", default=None, help="open_clip pretrained tag or weights file for an open_clip name")
    p.add_argument("--arch", default=None, help="open_clip model name of a .safetensors MODEL (default: its metadata)")
    p.add_argument("--calibration", default=None, help="claims calibration JSON (default: the one stored with MODEL)")
    p.add_argument("--calibrate", default=None, metavar="CLAIMS_CSV",
                   help="fit and store the thresholds from labelled claims (columns path, claim, label)")
    p.add_argument("--target-precision", type=float, default=0.9, help="precision of supported/unsupported decisions")
    p.add_argument("--contrast", action="append", default=None, help="a contrast text replacing the automatic ones")
    p.add_argument("--no-contrast", action="store_true", help="decide on CLIPScore alone (needs such a calibration)")
    p.add_argument("--region", default="auto", choices=("auto", "image", "face"), help="where to check each claim")
    p.add_argument("--detector", default=None, help="face detector (default: the face pipeline's)")
    p.add_argument("--objects", default=None, metavar="YOLO_ONNX", help="object boxes from this YOLOv8 ONNX file (plug-in)")
    p.add_argument("--no-heatmaps", action="store_true", help="skip the per-claim relevance maps")
    p.add_argument("--steps", type=int, default=8, help="deletion/insertion steps for the heatmaps' faithfulness")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--report", default=None, help="write a self-contained HTML report here")
    p.set_defaults(func=run)


def _claims(args, image) -> list[str]:
    from pathlib import Path

    from facetrust.claims.split import split_claims
    from facetrust.errors import DataError

    claims = list(args.claim)
    if args.answer_file:
        path = Path(args.answer_file)
        if not path.is_file():
            raise DataError(f"{path}: answer file not found")
        try:
            text = path.read_text()
        except UnicodeDecodeError as err:
            raise DataError(f"{path}: not a UTF-8 text file ({err})") from err
        claims += split_claims(text, args.splitter)
    if args.caption:
        from facetrust.claims.plugins import load_captioner

        caption = load_captioner(args.caption, args.caption_prompt).caption(image)
        print(f"caption: {caption}", file=sys.stderr)
        claims += split_claims(caption, args.splitter)
    if not claims:
        raise DataError("no claims to verify: give --claim TEXT, an --answer-file with text in it, or --caption MODEL_DIR"
                        + (f" ({args.answer_file} holds no claim)" if args.answer_file else ""))
    return claims


def _verifier(args, model, calibration):
    from facetrust.claims.plugins import load_object_detector
    from facetrust.claims.verify import ClaimVerifier

    objects = load_object_detector(args.objects) if args.objects else None
    contrast = not args.no_contrast
    if calibration is not None and calibration.score != ("contrast" if contrast else "clip_score"):
        from facetrust.errors import ConfigError

        raise ConfigError(f"the stored calibration is for {calibration.score!r} scores; "
                          f"{'drop' if contrast else 'add'} --no-contrast or calibrate again")
    return ClaimVerifier(model, calibration, args.detector or "default", objects, contrast)


def _calibrate(args, model) -> int:
    from facetrust.claims.calibrate import fit_calibration
    from facetrust.claims.serving import default_calibration_path
    from facetrust.claims.table import read_labelled_claims, score_labelled
    from facetrust.errors import ConfigError

    table = read_labelled_claims(args.calibrate)
    verifier = _verifier(args, model, None)
    raw, labels, hashes, skipped = score_labelled(verifier, table, args.region)
    target = args.calibration or default_calibration_path(args.model)
    if target is None:
        raise ConfigError(f"{args.model} is an open_clip name: give --calibration FILE to store the calibration")
    calibration = fit_calibration(raw, labels, "clip_score" if args.no_contrast else "contrast", model.identity, hashes,
                                  {"source": str(args.calibrate), "split": "given (--calibrate)",
                                   "skipped": len(skipped)}, args.target_precision)
    path = calibration.save(target)
    for item in skipped:
        print(f"skipped: {item}", file=sys.stderr)
    print(f"calibrated on {len(labels)} claims of {calibration.provenance['n_images']} images "
          f"(AUC {calibration.metrics['auc']:.3f}): unsupported if p <= {calibration.lower:.3f}, "
          f"supported if p >= {calibration.upper:.3f}; wrote {path}")
    return 0


def _print_table(results) -> None:
    for i, r in enumerate(results, start=1):
        if r.error:
            print(f"{i:>2}. [error] {r.text!r}: {r.error}")
            continue
        p = "  n/a" if r.p_supported is None else f"{r.p_supported:.3f}"
        print(f"{i:>2}. [{r.decision or 'no decision'}] p={p} CLIPScore={r.clip_score:.3f} "
              f"({r.region['kind']}) {r.text}")
        if r.reason:
            print(f"    {r.reason}")


def run(args) -> int:
    from facetrust.claims.model import load_clip
    from facetrust.claims.report import results_json, write_html
    from facetrust.claims.serving import load_calibration
    from facetrust.data import read_image
    from facetrust.errors import FacetrustError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_clip(args.model, args.pretrained, args.arch)
        if args.calibrate:
            return _calibrate(args, model)
        if args.image is None:
            raise FacetrustError("give an IMAGE to check claims about (or --calibrate CLAIMS_CSV)")
        image = read_image(args.image)
        calibration = load_calibration(args.model, args.calibration)
        claims = _claims(args, image)
        verifier = _verifier(args, model, calibration)
        results = verifier.verify(image, claims, args.region, args.contrast, heatmaps=not args.no_heatmaps,
                                  faithfulness_steps=args.steps, source=str(args.image))
    notes = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)))
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(results_json(results, str(args.image), model.identity, calibration, notes), indent=2))
    else:
        _print_table(results)
    if args.report:
        path = write_html(args.report, image, results, str(args.image), model.identity, calibration, notes)
        print(f"wrote {path}", file=sys.stderr)
    return 0
