"""A gallery of claims on held-out images: each claim's best region, its relevance heatmap and faithfulness.

Used by ``benchmarks/claims_sim.py`` (docs/explain.md's gallery) and the demo's claims step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_gallery(model, result: dict, manifest: str, png: Path, n_images: int, steps: int, seed: int) -> list[dict]:
    """Heatmaps of one true and one false claim on ``n_images`` test images, judged with the val calibration."""
    from facetrust.claims.verify import ClaimVerifier
    from facetrust.data import read_image
    from facetrust.data.sim.captions import read_captions
    from facetrust.explain.overlay import overlay, save_grid

    corpus = read_captions(manifest)
    test = result["test"]
    calibration = result["calibrations"]["image_contrast/all claims"]
    verifier = ClaimVerifier(model, calibration, face_detector=None)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(sorted(test["image_index"].unique()), size=min(n_images, test["image_index"].nunique()),
                        replace=False)
    rows, titles, records = [], [], []
    tests = corpus[corpus["split"] == "test"].reset_index(drop=True)
    for index in chosen:
        claims = test[(test["image_index"] == index) & (test["scope"] == "image")]
        true = claims[claims["label"] == 1].sample(1, random_state=int(rng.integers(1 << 30)))
        false = claims[(claims["label"] == 0) & (claims["attribute"] != true["attribute"].iloc[0])]
        picks = [true, false.sample(1, random_state=int(rng.integers(1 << 30)))]
        image = read_image(tests.loc[int(index), "abs_path"])
        for pick in picks:
            claim, label = str(pick["claim"].iloc[0]), int(pick["label"].iloc[0])
            (r,) = verifier.verify(image, [claim], scope="image", heatmaps=True, faithfulness_steps=steps)
            f = r.faithfulness
            rows.append([r.region_image, overlay(r.region_image, r.heatmap)])
            titles.append(f"{'true' if label else 'false'}: {claim}\n{r.decision} p={r.p_supported:.2f}")
            records.append({"image": tests.loc[int(index), "path"], "claim": claim, "true": bool(label),
                            "decision": r.decision, "p_supported": r.p_supported, "clip_score": r.clip_score, **f})
    save_grid(png, rows, titles, ["region", "relevance of the claim"], cell_inches=1.9)
    return records


def gallery_markdown(records: list[dict]) -> str:
    lines = ["| image | claim | true? | decision | p_supported | deletion AUC (random) | insertion AUC (random) |",
             "|---|---|---|---|---:|---:|---:|"]
    for r in records:
        lines.append(f"| {r['image']} | {r['claim']} | {'yes' if r['true'] else 'no'} | {r['decision']} | "
                     f"{r['p_supported']:.2f} | {r['deletion_auc']:.3f} ({r['random_deletion_auc']:.3f}) | "
                     f"{r['insertion_auc']:.3f} ({r['random_insertion_auc']:.3f}) |")
    return "\n".join(lines) + "\n"
