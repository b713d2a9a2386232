"""``facetrust eval CKPT MANIFEST``: score a manifest with a checkpoint and write an honest report."""

from facetrust.commands._options import add_device


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a checkpoint on a manifest with an honest threshold",
        description="Score the images of MANIFEST with the checkpoint CKPT and write report.json, "
        "report.md, scores.csv and ROC/DET/histogram PNGs. The threshold comes from validation data "
        "(--val, strategy eer@val by default) or, without it, from the checkpoint. test-eer picks it "
        "on the test set itself (FLIP's convention): optimistic, and marked as such in every report.",
    )
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint folder (model.safetensors or model.onnx)")
    p.add_argument("manifest", metavar="MANIFEST", help="manifest CSV/Parquet with the test images")
    p.add_argument("--threshold", metavar="STRATEGY", default=None,
                   help="eer@val | fixed:<t> | apcer@val:<x> | test-eer (default: eer@val with --val, "
                   "else the checkpoint's stored threshold)")
    p.add_argument("--val", metavar="MANIFEST_OR_SPLIT", default=None,
                   help="validation data: a manifest (its 'val' rows if any) or a split of MANIFEST, e.g. val")
    p.add_argument("--split", default="auto",
                   help="rows of MANIFEST to evaluate: train|val|test|all, or auto (default): with --domain every "
                   "row of those held-out domains, as train/distill summaries score a fold; else the test rows")
    p.add_argument("--domain", default=None, metavar="D[,D...]",
                   help="evaluate only these target domains; --val SPLIT then uses the other (source) domains")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="report folder (default eval-<CKPT's run folders>-<domains or split>, e.g. "
                   "eval-demo_mobilenet-kiosk+phone+webcam-cctv-seed0-cctv); never overwritten without --force")
    p.add_argument("--force", action="store_true", help="overwrite the report folder if it exists")
    p.add_argument("--batch-size", type=int, default=32, help="images scored at once (default 32)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (0 = none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    add_device(p)
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def default_out(checkpoint: str, domains: list[str] | None, split: str) -> str:
    """``eval-<run>-<what>``: the checkpoint folder's name, preceded by its parents' names while the
    name so far is a generic one (checkpoint, seedN, a fold such as kiosk+phone-cctv), so that two
    runs' checkpoints do not share a report folder."""
    import re
    from pathlib import Path

    def generic(name: str) -> bool:
        return name == "checkpoint" or bool(re.fullmatch(r"seed\d+", name)) or "+" in name

    parts = list(Path(checkpoint).resolve().parts[1:])
    keep = [parts.pop()] if parts else ["checkpoint"]
    while parts and generic(keep[0]) and len(keep) < 4:
        keep.insert(0, parts.pop())
    keep = [k for k in keep if k != "checkpoint"] or ["checkpoint"]
    what = "+".join(domains) if domains else ("test" if split == "auto" else split)
    return "eval-" + "-".join(keep + [what])


def run(args) -> int:
    from pathlib import Path

    from facetrust.errors import ConfigError
    from facetrust.report import write_report
    from facetrust.scoring import evaluate_checkpoint, write_scores

    domains = [d.strip() for d in args.domain.split(",") if d.strip()] if args.domain else None
    out = Path(args.out or default_out(args.checkpoint, domains, args.split))
    if out.exists() and any(out.iterdir()) and not args.force:
        raise ConfigError(f"{out} already exists; pass --force to overwrite it or --out DIR for another folder")
    result = evaluate_checkpoint(
        args.checkpoint, args.manifest, strategy=args.threshold, val=args.val, split=args.split,
        domains=domains,
        batch_size=args.batch_size, n_bootstrap=args.bootstrap, seed=args.seed, device=args.device,
        progress=not args.quiet,
    )
    paths = write_report(result, out, figures=not args.no_figures)
    write_scores(result, out / "scores.csv")
    if not result.honest:
        print(f"WARNING: {result.to_dict()['warning']}")
    extra = result.extra
    print(f"evaluated {extra['rows']} images of {extra['manifest']}: split {extra['split']}, "
          f"domain(s) {', '.join(extra['domains'])}")
    print(f"threshold strategy: {result.strategy}")
    for level, res in result.levels.items():
        m = res.metrics
        if result.extra.get("task") == "deepfake":
            print(f"{level:>5}: threshold {res.threshold:.4g}  ACC {m['accuracy']:.2%}  F1 {m['f1']:.2%}  "
                  f"(at 0.5: ACC {m['accuracy@0.5']:.2%}  F1 {m['f1@0.5']:.2%})  AUC {m['auc']:.2%}  "
                  f"EER {m['eer']:.2%}  AP {m['ap']:.2%}")
            continue
        print(f"{level:>5}: threshold {res.threshold:.4g}  HTER {m['hter']:.2%}  AUC {m['auc']:.2%}  "
              f"EER {m['eer']:.2%}  APCER {m['apcer']:.2%}  BPCER {m['bpcer']:.2%}  "
              f"TPR@FPR=1% {m['tpr@fpr=1%']:.2%}")
    skipped = result.extra.get("skipped", [])
    if skipped:
        print(f"skipped {len(skipped)} unreadable image(s), listed in {paths['markdown']}")
    print(f"report: {paths['markdown']}")
    return 0
