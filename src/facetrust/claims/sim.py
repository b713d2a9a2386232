"""claims-sim: true and false claims about held-out images of the captioned corpus, and how well CLIP judges them.

Every image of a split gets, per attribute of the corpus (glasses, hat, beard, pose, background,
n_faces, blur, noise, light, colour_cast, jpeg, resolution, presentation), one **true** claim stating
its value and one **false** claim stating another value drawn at random (``CLAIMS``; face attributes
only for images with a face). The wording is the benchmark's own, not the corpus's captions.

``run_claims_sim`` calibrates on the claims of the corpus's ``val`` images and judges those of its
``test`` images (disjoint subjects; a check refuses any shared image), for four variants: whole image
or face crop, with or without contrast prompts. Per variant: accuracy at the calibrated p >= 0.5,
the share of claims decided and their accuracy with the two thresholds, ROC AUC of the raw score and
ECE of p_supported. Face-crop rows and their whole-image twins use the same claims: face attributes
of images where the detector found a face.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from facetrust.claims.calibrate import expected_calibration_error, fit_calibration, image_hash
from facetrust.claims.contrast import alternatives
from facetrust.claims.model import ClipModel
from facetrust.claims.regions import Region, crop_region, find_faces
from facetrust.claims.score import with_prefix
from facetrust.claims.verify import region_scores
from facetrust.errors import DataError

FACE_ATTRIBUTES = ("glasses", "hat", "beard", "pose")
CLAIMS: dict[str, dict[str, str]] = {
    "glasses": {"glasses": "The person wears glasses", "sunglasses": "The person wears sunglasses",
                "none": "The person wears no glasses"},
    "hat": {"hat": "The person wears a hat", "none": "The person wears no hat"},
    "beard": {"beard": "The person has a beard", "none": "The person has no beard"},
    "pose": {"frontal": "The person looks at the camera", "left": "The person looks to the left",
             "right": "The person looks to the right"},
    "background": {c: f"The background is {c}" for c in ("red", "green", "blue", "yellow", "gray", "purple")},
    "n_faces": {"0": "The image shows no faces", "1": "The image shows one face", "2": "The image shows two faces"},
    "blur": {"blurred": "The photo is blurry", "none": "The photo is sharp"},
    "noise": {"noisy": "The photo is noisy", "none": "The photo is clean"},
    "light": {"dark": "The photo is dark", "none": "The photo is bright"},
    "colour_cast": {"warm": "The photo has a warm tint", "cool": "The photo has a cool tint",
                    "green": "The photo has a green tint", "none": "The photo has natural colours"},
    "jpeg": {"jpeg": "The photo has jpeg artefacts", "none": "The photo has no compression artefacts"},
    "resolution": {"low": "The photo is low resolution", "none": "The photo is high resolution"},
    "presentation": {"none": "The face is real", "print": "The face is printed on paper",
                     "screen": "The face is shown on a screen", "pasted": "The face is pasted"},
}
VARIANTS = (("image", True, "all claims"), ("image", False, "all claims"), ("image", True, "face claims"),
            ("face", True, "face claims"), ("image", False, "face claims"), ("face", False, "face claims"))


def make_claims(images: pd.DataFrame, seed: int = 0, attributes: tuple[str, ...] | None = None) -> pd.DataFrame:
    """True and false claims for each row of a captions manifest (module docstring), one row per claim
    (``attributes``: only these, default all of ``CLAIMS``)."""
    unknown = set(attributes or ()) - set(CLAIMS)
    if unknown:
        raise DataError(f"claims-sim has no claims for {sorted(unknown)}; choose from {list(CLAIMS)}")
    rng = np.random.default_rng([seed, 19])
    rows = []
    for image_index, row in enumerate(images.itertuples(index=False)):
        for attribute, templates in CLAIMS.items():
            if attribute not in images.columns or (attributes and attribute not in attributes):
                continue
            value = str(getattr(row, attribute))
            if value not in templates or (attribute in FACE_ATTRIBUTES and str(row.n_faces) == "0"):
                continue
            others = [v for v in templates if v != value]
            false_value = others[int(rng.integers(len(others)))]
            for claim_value, label in ((value, 1), (false_value, 0)):
                rows.append({"image_index": image_index, "path": row.path, "attribute": attribute, "value": claim_value,
                             "claim": templates[claim_value], "label": label,
                             "scope": "face" if attribute in FACE_ATTRIBUTES else "image"})
    return pd.DataFrame(rows)


class _TextCache:
    """Text embeddings computed once per distinct text."""

    def __init__(self, model: ClipModel) -> None:
        self.model, self.embeddings = model, {}

    def __call__(self, texts: list[str]) -> torch.Tensor:
        missing = [t for t in dict.fromkeys(texts) if t not in self.embeddings]
        if missing:
            self.embeddings.update(zip(missing, self.model.encode_texts(missing), strict=True))
        return torch.stack([self.embeddings[t] for t in texts])


def score_split(model: ClipModel, images: pd.DataFrame, detector: Any, seed: int = 0,
                log: Callable[[str], None] = print, attributes: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Claims of one split with raw scores per variant: ``{image,face}_{clip_score,contrast}`` (NaN = no face)."""
    from facetrust.data import read_image

    claims = make_claims(images, seed, attributes)
    pictures = [read_image(p) for p in images["abs_path"]]
    whole = model.encode_images([crop_region(p, Region("image", None), model.input_size) for p in pictures])
    faces: dict[int, torch.Tensor] = {}
    if detector is not None:
        started = time.perf_counter()
        for i, picture in enumerate(pictures):
            found = find_faces(detector, picture)
            if found:
                faces[i] = model.encode_images([crop_region(picture, r, model.input_size) for r in found])
        log(f"  faces found in {len(faces)}/{len(pictures)} images ({time.perf_counter() - started:.0f} s)")
    texts = _TextCache(model)
    columns: dict[str, list[float]] = {f"{r}_{k}": [] for r in ("image", "face") for k in ("clip_score", "contrast")}
    for claim in claims.itertuples(index=False):
        alts = alternatives(claim.claim)
        embedded = texts([with_prefix(t) for t in [claim.claim, *alts]])
        for region, embeddings in (("image", whole[claim.image_index : claim.image_index + 1]),
                                   ("face", faces.get(claim.image_index))):
            if embeddings is None or (region == "face" and claim.scope != "face"):
                columns[f"{region}_clip_score"].append(np.nan)
                columns[f"{region}_contrast"].append(np.nan)
                continue
            scores, p = region_scores(embeddings, embedded[0], embedded[1:], model.logit_scale)
            best = int(np.argmax(p))  # the region the claim is judged on (as ClaimVerifier does)
            columns[f"{region}_clip_score"].append(float(scores.max()))
            columns[f"{region}_contrast"].append(float(p[best]))
    for name, values in columns.items():
        claims[name] = values
    claims["image_sha256"] = [image_hash(pictures[i]) for i in claims["image_index"]]
    return claims


def _metrics(calibration, raw: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    p = calibration.probability(raw)
    decisions = np.array([calibration.decide(float(v)) for v in p])
    decided = decisions != "uncertain"
    correct = (decisions == "supported") == (labels == 1)
    return {
        "accuracy": float(((p >= 0.5) == (labels == 1)).mean()),
        "auc": float(roc_auc_score(labels, raw)) if len(set(labels.tolist())) == 2 else float("nan"),
        "ece": expected_calibration_error(p, labels),
        "ece_raw": expected_calibration_error(raw, labels) if calibration.score == "contrast" else float("nan"),
        "decided": float(decided.mean()),
        "decided_accuracy": float(correct[decided].mean()) if decided.any() else float("nan"),
    }


def evaluate(val: pd.DataFrame, test: pd.DataFrame, model_identity: str, source: str = "") -> dict[str, Any]:
    """Calibrate each variant on ``val`` claims and measure it on ``test`` claims (module docstring)."""
    shared = set(val["image_sha256"]) & set(test["image_sha256"])
    if shared:
        raise DataError(f"{len(shared)} image(s) are in both the calibration and the judged claims; "
                        "claims-sim needs disjoint val and test images")
    rows, calibrations = [], {}
    for region, contrast, claims in VARIANTS:
        kind = "contrast" if contrast else "clip_score"
        column = f"{region}_{kind}"
        # face-crop rows and their whole-image twins: face-attribute claims of images with a detected face
        v, t = (val, test) if claims == "all claims" else (val[val["face_contrast"].notna()], test[test["face_contrast"].notna()])
        row = {"region": region, "contrast": contrast, "claims": claims, "n_val": len(v), "n_test": len(t)}
        if t.empty or v["label"].nunique() < 2:
            rows.append({**row, "note": "no claims with a detected face" if claims != "all claims" else "no claims"})
            continue
        calibration = fit_calibration(v[column].to_numpy(), v["label"].to_numpy(), kind, model_identity,
                                      list(v["image_sha256"]), {"split": "val", "source": source,
                                                                "variant": f"{column} ({claims})"})
        calibrations[f"{column}/{claims}"] = calibration
        rows.append({**row, **_metrics(calibration, t[column].to_numpy(), t["label"].to_numpy()),
                     "lower": calibration.lower, "upper": calibration.upper})
    per_attribute = []
    for attribute, group in test.groupby("attribute", sort=False):
        calibration = calibrations.get("image_contrast/all claims")
        if calibration is None:
            break
        p = calibration.probability(group["image_contrast"].to_numpy())
        per_attribute.append({"attribute": attribute, "claims": len(group),
                              "accuracy": float(((p >= 0.5) == (group["label"].to_numpy() == 1)).mean())})
    return {"rows": rows, "per_attribute": per_attribute, "calibrations": calibrations}


def run_claims_sim(model: ClipModel, manifest: str, detector: Any = None, seed: int = 0,
                   max_images: int | None = None, log: Callable[[str], None] = print,
                   attributes: tuple[str, ...] | None = None) -> dict[str, Any]:
    """claims-sim on a captions manifest: calibrate on ``val`` images, judge ``test`` images."""
    from facetrust.data.sim.captions import read_captions

    corpus = read_captions(manifest)
    scored = {}
    for split in ("val", "test"):
        images = corpus[corpus["split"] == split]
        if images.empty:
            raise DataError(f"{manifest}: no '{split}' images; claims-sim calibrates on val and judges test")
        if max_images is not None:
            images = images.iloc[:max_images]
        started = time.perf_counter()
        scored[split] = score_split(model, images, detector, seed, log, attributes)
        log(f"  {split}: {len(images)} images, {len(scored[split])} claims ({time.perf_counter() - started:.0f} s)")
    result = evaluate(scored["val"], scored["test"], model.identity, str(manifest))
    return {**result, "val": scored["val"], "test": scored["test"]}


def results_markdown(rows: list[dict[str, Any]]) -> str:
    """The variant table as Markdown (accuracy, AUC, ECE in %, decided share and its accuracy)."""
    lines = ["| region | contrast prompts | claims | test claims | accuracy % | AUC | ECE % (raw) | decided % | "
             "accuracy of decided % |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "accuracy" not in r:
            lines.append(f"| {r['region']} | {'yes' if r['contrast'] else 'no'} | {r['claims']} | {r['n_test']} | "
                         f"{r.get('note', '')} | | | | |")
            continue
        raw = "" if np.isnan(r["ece_raw"]) else f" ({100 * r['ece_raw']:.1f})"
        lines.append(f"| {r['region']} | {'yes' if r['contrast'] else 'no'} | {r['claims']} | {r['n_test']} | "
                     f"{100 * r['accuracy']:.1f} | {r['auc']:.3f} | {100 * r['ece']:.1f}{raw} | "
                     f"{100 * r['decided']:.1f} | {100 * r['decided_accuracy']:.1f} |")
    return "\n".join(lines) + "\n"
