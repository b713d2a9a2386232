"""The demo's face-recognition section: face-id-sim -> a tiny iResNet with ArcFace -> the LFW protocol
on identities it never saw -> enroll two people and identify them -> dlib-resnet on a real photo.

Sized to stay under ~45 s on 2 cores (32 px, 80 steps). face-id-sim is a pipeline benchmark (25x25
source faces), not a face-recognition benchmark; the real embedder is dlib-resnet.
"""

from __future__ import annotations

from typing import Any

SIZE = 32


def step_face(ctx) -> dict[str, Any]:
    """Train, verify on the test pairs, enroll -> identify, and run dlib-resnet on astronaut()."""
    from facetrust.config import from_dict
    from facetrust.face.embedder import load_embedder
    from facetrust.face.ops import enroll, identify
    from facetrust.tasks.face import train_face
    from facetrust.tasks.face_config import FaceExperiment

    quick = ctx.settings.quick
    out = ctx.out / "face"
    config = from_dict(FaceExperiment, {
        "task": "face", "name": "demo_face", "out": str(out), "seeds": [ctx.settings.seed],
        "model": {"name": "test_iresnet", "embedding_size": 32, "input_size": SIZE},
        "head": {"kind": "arcface", "s": 16.0, "m": 0.3},
        "data": {"face_id_sim": {"image_size": SIZE, "pairs_per_fold": 20, "seed": ctx.settings.seed}},
        "train": {"iterations": 3 if ctx.settings.tiny else 30 if quick else 80, "batch_size": 32, "optimizer": "adamw", "lr": 3e-3,
                  "weight_decay": 5e-4, "val_every": 40, "eval_batch_size": 256},
        "trainer": {"accelerator": "cpu", "devices": 1, "progress_bar": False},
    }, "demo face")
    run = train_face(config)["runs"][0]
    images = out / f"face-id-sim-s{ctx.settings.seed}-{SIZE}" / "images"
    people = sorted(p.name for p in images.iterdir())[-2:]  # two pair (test) identities, unseen in training
    embedder = load_embedder(run["checkpoint"])
    gallery = out / "gallery"
    for person in people:
        enroll(gallery, person, [str(images / person / f"{person}_{i:04d}.jpg") for i in (1, 2, 3)], embedder, aligned=True)
    probes = [str(images / p / f"{p}_{i:04d}.jpg") for p in people for i in (8, 9)]
    found = identify(gallery, probes, embedder, aligned=True)
    identified = [{"image": f"{p.split('/')[-2]}/{p.split('/')[-1]}", "truth": p.split("/")[-2],
                   "identity": r["faces"][0]["identity"], "similarity": round(r["faces"][0]["similarity"], 3)}
                  for p, r in zip(probes, found["images"], strict=True)]
    return {"run": run, "people": people, "identified": identified, "dlib": _dlib_check()}


def _dlib_check() -> dict[str, Any]:
    """dlib-resnet: astronaut() vs its mirror image (same person) and vs a real photo of someone else."""
    import numpy as np
    import skimage.data

    from facetrust.face.embedder import load_embedder

    try:
        embedder = load_embedder("dlib-resnet")
    except Exception as err:  # noqa: BLE001 - the section says why it is missing
        return {"error": str(err)}
    astronaut = skimage.data.astronaut()
    a = embedder.embed_faces(astronaut)[0].embedding
    b = embedder.embed_faces(np.ascontiguousarray(astronaut[:, ::-1]))[0].embedding
    others = [np.stack([(x * 255).astype(np.uint8)] * 3, -1) for x in skimage.data.lfw_subset()[:10]]
    other = float((embedder.embed_aligned(others) @ a).max())
    return {"mirror_similarity": float(a @ b), "max_other_similarity": other, "threshold": embedder.threshold}


def face_section(result: dict[str, Any]):
    """The report's "Face recognition" section."""
    from facetrust.demo.html import Section

    run = result["run"]
    test, val = run["test_pairs"], run["train_pairs"]
    section = Section("face", "Face recognition")
    section.text("The third trust question: whose face is it? A tiny iResNet trained with ArcFace (task: face) "
                 f"on the 60 training identities of face-id-sim ({SIZE} px), evaluated with the LFW protocol "
                 "(10 folds, flip-fused embeddings, threshold from the other 9 folds) on pairs of 40 identities "
                 "it never saw; the stored operating threshold comes from training-side pairs. face-id-sim is "
                 "built from scikit-image's 25x25 LFW crops: a pipeline benchmark, not a recognition benchmark.")
    section.table([{"pairs": "test (unseen identities)", "accuracy %": f"{100 * test['accuracy']:.2f} ± {100 * test['accuracy_std']:.2f}",
                    "AUC %": f"{100 * test['auc']:.2f}", "TAR@FAR=1e-2 %": f"{100 * test['tar@far=1e-2']:.1f}"},
                   {"pairs": "training-side (held-out views)", "accuracy %": f"{100 * val['accuracy']:.2f} ± {100 * val['accuracy_std']:.2f}",
                    "AUC %": f"{100 * val['auc']:.2f}", "TAR@FAR=1e-2 %": f"{100 * val['tar@far=1e-2']:.1f}"}],
                  f"Verification (threshold cos >= {run['threshold_cosine']:.3f} stored in the checkpoint)")
    section.table(result["identified"], f"enroll {', '.join(result['people'])} (3 views each) -> identify other views")
    dlib = result["dlib"]
    if "error" in dlib:
        section.text(f"dlib-resnet unavailable: {dlib['error']}")
    else:
        section.text(f"dlib-resnet (pretrained, offline): astronaut() vs its mirror image similarity "
                     f"{dlib['mirror_similarity']:.3f}; best of 10 other faces {dlib['max_other_similarity']:.3f}; "
                     f"threshold {dlib['threshold']:.3f}.")
    return section
