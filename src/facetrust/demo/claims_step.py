"""The demo's claim-verification step: a few true and false claims about held-out images, judged by a
CLIP, each with its relevance heatmap and faithfulness.

The CLIP is the demo's pretrained clip-tiny when the CLIP step ran (``--clip-pretrain``); otherwise
this step pretrains a small one itself on a small captioned corpus (``CLAIMS_CLIP_ITERATIONS``
steps, about half a minute on 2 cores). Thresholds are calibrated on the claims of the corpus's val
images and the claims shown are about its test images (subjects the CLIP never saw).
"""

from __future__ import annotations

from typing import Any

CLAIMS_SUBJECTS = 40
CLAIMS_IMAGES = 12  # val and test images scored (each)
CLAIMS_CLIP_ITERATIONS = {False: 150, True: 40}  # by DemoSettings.quick


def _clip_weights(ctx) -> tuple[str, str, str]:
    """(weights, captions manifest, where they came from)."""
    clip = ctx.results.get("clip", {})
    manifest = ctx.out / "captions" / "manifest.csv"
    if clip.get("weights") and manifest.is_file():
        return clip["weights"], str(manifest), "the demo's CLIP pretraining step"
    from facetrust.config import from_dict
    from facetrust.tasks.clip import train_clip
    from facetrust.tasks.clip_config import ClipExperiment

    s = ctx.settings
    iterations = CLAIMS_CLIP_ITERATIONS[bool(s.quick)]
    config = from_dict(ClipExperiment, {
        "task": "clip", "name": "demo_claims_clip", "model": {"clip": "clip-tiny", "pretrained": None},
        "data": {"corpus": {"seed": s.seed, "n_subjects": CLAIMS_SUBJECTS, "images_per_subject": 4, "image_size": 64,
                            "captions_per_image": 3, "dir": str(ctx.out / "claims" / "captions")}},
        "train": {"iterations": iterations, "batch_size": 48, "lr": 2e-3, "weight_decay": 0.1,
                  "warmup_iterations": max(1, iterations // 10), "schedule": "cosine", "val_every": iterations},
        "trainer": {"accelerator": ctx.accelerator(), "devices": 1, "precision": "32-true", "progress_bar": False},
        "seeds": [s.seed], "out": str(ctx.out / "claims" / "clip"),
    }, "demo claims clip config")
    (run,) = train_clip(config)["runs"]
    return run["weights"], run["corpus"], f"this step ({iterations} steps on {CLAIMS_SUBJECTS} subjects)"


def step_claims(ctx) -> dict[str, Any]:
    """Calibrate on val claims, judge test claims, draw heatmaps of a few -> summary and figure."""
    from facetrust.claims.gallery import write_gallery
    from facetrust.claims.model import load_clip
    from facetrust.claims.sim import run_claims_sim

    weights, manifest, origin = _clip_weights(ctx)
    model = load_clip(weights)
    result = run_claims_sim(model, manifest, None, ctx.settings.seed, CLAIMS_IMAGES, log=ctx.log)
    png = ctx.out / "figures" / "claims.png"
    records = write_gallery(model, result, manifest, png, n_images=2, steps=8, seed=ctx.settings.seed)
    rows = [{k: r[k] for k in ("region", "contrast", "n_test", "accuracy", "auc", "ece", "decided", "decided_accuracy")}
            for r in result["rows"] if r["claims"] == "all claims" and "accuracy" in r]
    return {"weights": weights, "manifest": manifest, "origin": origin, "rows": rows, "gallery": records,
            "figure": str(png)}


def claims_section(result: dict[str, Any]):
    """The report section of this step."""
    from facetrust.demo.html import Section

    section = Section("claims", "Verifying claims about an image")
    section.text(f"A CLIP pretrained by {result['origin']} judges true and false claims about held-out images of the "
                 "captioned corpus: CLIPScore (2.5 max(cos, 0) with 'A photo depicts ...') and a contrast test against "
                 "the claim's negation and the attribute's other values, decided with thresholds calibrated on the "
                 "claims of validation images, never on the judged ones.")
    section.table([{"region": r["region"], "contrast prompts": "yes" if r["contrast"] else "no",
                    "test claims": r["n_test"], "accuracy %": f"{100 * r['accuracy']:.1f}", "AUC": f"{r['auc']:.3f}",
                    "ECE %": f"{100 * r['ece']:.1f}", "decided %": f"{100 * r['decided']:.1f}"} for r in result["rows"]],
                  "Test-image claims (chance accuracy 50%: one true and one false claim per attribute)")
    section.image(result["figure"], "Each claim's best region and the relevance of the claim (clip-relevance)")
    section.table([{"claim": g["claim"], "true": "yes" if g["true"] else "no", "decision": g["decision"],
                    "p_supported": f"{g['p_supported']:.2f}",
                    "deletion AUC (random)": f"{g['deletion_auc']:.3f} ({g['random_deletion_auc']:.3f})",
                    "insertion AUC (random)": f"{g['insertion_auc']:.3f} ({g['random_insertion_auc']:.3f})"}
                   for g in result["gallery"]], "Faithfulness of each heatmap against a random map of the same region")
    return section
