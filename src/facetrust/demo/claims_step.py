"""The demo's claim-verification step: true and false claims about held-out images, judged by the CLIP
the demo pretrained, a few of them with their relevance heatmap and faithfulness.

It needs a CLIP that understands text: the demo's CLIP pretraining step (on by default). With
``--no-clip-pretrain`` the step records ``{"enabled": false}`` at no cost and the report says how to
see it (a CLIP pretrained inside this step's time budget would judge at chance: nothing to show). Thresholds are
calibrated on the claims of the corpus's val images; the claims judged and drawn are about its test
images (subjects the CLIP never saw). About 20-40 s on 2 cores.
"""

from __future__ import annotations

from typing import Any

CLAIMS_IMAGES = 12  # val and test images scored (each)


def step_claims(ctx) -> dict[str, Any]:
    """Calibrate on val claims, judge test claims, draw heatmaps of a few -> summary and figure."""
    from facetrust.claims.gallery import write_gallery
    from facetrust.claims.model import load_clip
    from facetrust.claims.sim import run_claims_sim

    weights = ctx.results.get("clip", {}).get("weights")
    manifest = ctx.out / "captions" / "manifest.csv"  # the corpus the CLIP step pretrained on
    if not weights or not manifest.is_file():
        return {"enabled": False}
    manifest, origin = str(manifest), "the demo's CLIP pretraining step"
    model = load_clip(weights)
    tiny = ctx.settings.tiny
    result = run_claims_sim(model, manifest, None, ctx.settings.seed, 3 if tiny else CLAIMS_IMAGES, log=ctx.log)
    png = ctx.out / "figures" / "claims.png"
    records = write_gallery(model, result, manifest, png, n_images=1 if tiny else 2, steps=4 if tiny else 8,
                            seed=ctx.settings.seed)
    rows = [{k: r[k] for k in ("region", "contrast", "n_test", "accuracy", "auc", "ece", "decided", "decided_accuracy")}
            for r in result["rows"] if r["claims"] == "all claims" and "accuracy" in r]
    return {"enabled": True, "weights": weights, "manifest": manifest, "origin": origin, "rows": rows, "gallery": records,
            "figure": str(png)}


def claims_section(result: dict[str, Any]):
    """The report section of this step."""
    from facetrust.demo.html import Section

    section = Section("claims", "Verifying claims about an image")
    if not result.get("enabled"):
        return section.text("Claim verification needs a CLIP that understands text: this run skipped the CLIP "
                            "pretraining step (--no-clip-pretrain). Run the demo without it (clip-tiny pretrained on "
                            "the captioned corpus) to see true and false claims about held-out images judged, with "
                            "their heatmaps; or use facetrust verify-claims (README).", cls="note")
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
