"""claims-sim: how well does a CLIP judge true and false claims about held-out images?

Calibrates on the claims of the captioned corpus's val images, judges those of its test images (subjects
never seen in pretraining), for the whole image vs the face crop and with vs without contrast prompts;
writes the table (Markdown + JSON) and a gallery of per-claim heatmaps with their faithfulness.

    # the pretrained tiny CLIP (facetrust train configs/clip/clip_tiny.yaml) and the random-init floor
    python benchmarks/claims_sim.py --clip runs/clip/clip_tiny/clip.safetensors --out runs/claims_sim \
        --gallery docs/img/claims_gallery.png
    python benchmarks/claims_sim.py --random-init --manifest runs/clip/clip_tiny/captions-s0-64-200x8/manifest.csv \
        --out runs/claims_sim_random

The corpus defaults to the one recorded in the weights' metadata (the corpus the CLIP was pretrained on).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _recorded_corpus(weights: str) -> str | None:
    from safetensors import safe_open

    with safe_open(weights, "pt") as f:
        value = (f.metadata() or {}).get("corpus")
    return json.loads(value) if value else None


def _model(args):
    import torch

    from facetrust.claims.model import ClipModel, load_clip, module_identity
    from facetrust.models.clip import create_clip

    if args.random_init:
        torch.manual_seed(args.seed)
        clip, tokenizer, preprocess = create_clip(args.arch)
        return ClipModel(clip, tokenizer, preprocess, module_identity(clip), f"{args.arch} (random init)")
    return load_clip(args.clip, arch=args.arch if args.arch != "clip-tiny" else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", help="CLIP weights (.safetensors from task: clip) or a checkpoint folder")
    parser.add_argument("--random-init", action="store_true", help="a randomly initialised CLIP: the floor")
    parser.add_argument("--arch", default="clip-tiny", help="open_clip model name for --random-init")
    parser.add_argument("--manifest", help="captions manifest (default: the corpus recorded in the weights)")
    parser.add_argument("--detector", default="blazeface", help="face detector for the face-crop rows ('none': skip)")
    parser.add_argument("--max-images", type=int, default=None, help="at most this many val and test images each")
    parser.add_argument("--attributes", nargs="+", default=None, help="only claims about these attributes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/claims_sim", help="folder for claims_sim.md / .json")
    parser.add_argument("--gallery", default=None, help="write the heatmap gallery PNG here (and a .md beside it)")
    parser.add_argument("--gallery-images", type=int, default=3)
    parser.add_argument("--steps", type=int, default=16, help="deletion/insertion steps of the gallery")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if not args.random_init and not args.clip:
        parser.error("give --clip WEIGHTS or --random-init")
    import torch

    from facetrust.claims.gallery import gallery_markdown, write_gallery
    from facetrust.claims.sim import results_markdown, run_claims_sim
    from facetrust.export.bench import machine_info

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    manifest = args.manifest or (_recorded_corpus(args.clip) if args.clip and args.clip.endswith(".safetensors") else None)
    if manifest is None:
        parser.error("give --manifest (the weights record no corpus)")
    model = _model(args)
    detector = None
    if args.detector != "none":
        from facetrust.pipeline import create_detector

        detector = create_detector(args.detector)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    result = run_claims_sim(model, manifest, detector, args.seed, args.max_images, log,
                            tuple(args.attributes) if args.attributes else None)
    seconds = time.perf_counter() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model_name = model.source
    header = (f"claims-sim: {model_name} on {manifest} (calibrated on val, judged on test images; detector "
              f"{args.detector}; {seconds:.0f} s on {machine_info(args.threads).get('cpu', '?')}, {args.threads} threads)\n\n")
    table = results_markdown(result["rows"])
    per_attribute = "| attribute | test claims | accuracy % |\n|---|---:|---:|\n" + "".join(
        f"| {r['attribute']} | {r['claims']} | {100 * r['accuracy']:.1f} |\n" for r in result["per_attribute"])
    (out / "claims_sim.md").write_text(header + table + "\nWhole image, contrast prompts, per attribute:\n\n" + per_attribute)
    (out / "claims_sim.json").write_text(json.dumps({
        "model": model_name, "identity": model.identity, "manifest": str(manifest), "seconds": round(seconds, 1),
        "rows": result["rows"], "per_attribute": result["per_attribute"],
        "calibrations": {k: {**c.to_dict(), "provenance": {**c.provenance, "image_sha256": len(c.provenance["image_sha256"])}}
                         for k, c in result["calibrations"].items()}}, indent=2, default=float))
    print(header + table + "\n" + per_attribute)
    if args.gallery:
        png = Path(args.gallery)
        records = write_gallery(model, result, manifest, png, args.gallery_images, args.steps, args.seed)
        png.with_suffix(".md").write_text(gallery_markdown(records))
        print(gallery_markdown(records))
        print(f"wrote {png} and {png.with_suffix('.md')}", file=sys.stderr)
    print(f"wrote {out / 'claims_sim.md'} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
