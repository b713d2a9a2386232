"""The demo's deepfake section: deepfake-sim -> tiny EfficientNet teacher -> ResNet8 with the seed's KD
(alpha * KL + (1 - alpha) * CE) -> metrics per manipulation family on held-out subjects -> one Grad-CAM.

The same engine as the anti-spoofing steps (``task: deepfake``); sizes are chosen to keep this step
around a minute on 2 cores (48 px images, a few hundred steps in total). The cross-manipulation
protocol (train on one family, test on the other) is in ``benchmarks/deepfake_kd.py``.
"""

from __future__ import annotations

from typing import Any

FAMILIES = ("sbi", "swap")
SIZE = 48


def _common(ctx, name: str, out: str, iterations: int, manifest: str) -> dict[str, Any]:
    return {
        "task": "deepfake", "name": name, "out": out, "seeds": [ctx.settings.seed],
        "data": {"manifest": manifest, "cache_images": True},
        "protocol": {"kind": "split"},
        "trainer": {"accelerator": ctx.accelerator(), "devices": 1, "precision": "32-true", "progress_bar": False},
        "eval": {"threshold": "eer@val", "select": "val_auc", "n_bootstrap": 0},
        "train": {"iterations": iterations, "per_group": 16, "optimizer": "adamw", "lr": 3e-3, "weight_decay": 1e-4,
                  "schedule": "cosine", "augment": False, "val_every": max(10, iterations // 4),
                  "eval_batch_size": 128},
    }


def step_deepfake(ctx) -> dict[str, Any]:
    """Generate deepfake-sim, train the teacher, distil ResNet8, evaluate both, explain one fake."""
    from facetrust.config import from_dict
    from facetrust.data import make_deepfake_sim, read_image, read_manifest
    from facetrust.data.sim.deepfake_sim import save_deepfake_grid
    from facetrust.tasks.binary import evaluate_by_manipulation, single_run
    from facetrust.tasks.distill import distill
    from facetrust.tasks.distill_config import DistillExperiment
    from facetrust.tasks.fas import train_fas
    from facetrust.tasks.fas_config import FasExperiment

    quick, tiny = ctx.settings.quick, ctx.settings.tiny
    out = ctx.out / "deepfake"
    iterations = 3 if tiny else 40 if quick else 150
    manifest = make_deepfake_sim(out / "deepfake-sim", seed=ctx.settings.seed, image_size=SIZE,
                                 subjects=10 if tiny else 40 if quick else 100, frames_per_video=2)
    grid = save_deepfake_grid(manifest, ctx.out / "figures" / "deepfake_sim_grid.png", per_kind=5)
    teacher_config = from_dict(FasExperiment, {
        **_common(ctx, "demo_deepfake_teacher", str(out / "teacher"), iterations, str(manifest)),
        "model": {"name": "test_efficientnet", "image_size": SIZE},
    }, "demo deepfake teacher")
    teacher = single_run(train_fas(teacher_config))
    student_config = from_dict(DistillExperiment, {
        **_common(ctx, "demo_deepfake_student", str(out / "student"), iterations, str(manifest)),
        "teacher": {"checkpoint": teacher["checkpoint"], "cache": True},
        "student": {"name": "resnet8", "image_size": SIZE},
        "losses": {"kd": 1.0}, "loss_options": {"alpha": 0.5, "soft": "kl", "temperature": 4.0},
    }, "demo deepfake student")
    student = single_run(distill(student_config))
    metrics = {role: evaluate_by_manipulation(run["checkpoint"], manifest, None, FAMILIES)
               for role, run in (("teacher", teacher), ("student", student))}
    df = read_manifest(manifest)
    sample = df[(df["split"] == "test") & (df["manipulation"] == FAMILIES[0])].iloc[0]
    heatmap = _explain(student["checkpoint"], read_image(sample["abs_path"]), ctx.out / "figures" / "deepfake_explain.png")
    return {"manifest": str(manifest), "grid": str(grid), "images": len(df), "metrics": metrics,
            "teacher": {"checkpoint": teacher["checkpoint"], "train_seconds": teacher["train_seconds"]},
            "student": {"checkpoint": student["checkpoint"], "train_seconds": student["train_seconds"]},
            "heatmap": str(heatmap), "heatmap_sample": str(sample["path"])}


def _explain(checkpoint: str, image, path):
    """Grad-CAM of the student's 'fake' logit on one held-out self-blended frame, next to the frame."""
    import facetrust
    from facetrust.explain import explain
    from facetrust.explain.overlay import overlay, save_grid

    model = facetrust.load_model(checkpoint)
    heat = explain(model, image, "gradcam", target=0)
    return save_grid(path, [[image, overlay(image, heat)]], ["held-out sbi fake"], ["input", "ResNet8 Grad-CAM (fake)"])


def deepfake_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model and family: real + that family's held-out test frames (%)."""
    rows = []
    for role, name in (("teacher", "teacher (test_efficientnet)"), ("student", "ResNet8, KD-KL")):
        m = result["metrics"][role]
        for family in FAMILIES:
            metrics = m[family]["frame"]
            rows.append({"model": name, "fakes": family, "params (M)": f"{m['params'] / 1e6:.3f}",
                         **{f"{k.upper()} %": f"{100 * metrics[k]:.2f}" for k in ("accuracy", "f1", "auc", "eer", "ap")},
                         "video AUC %": f"{100 * m[family]['video']['auc']:.2f}"})
    return rows


def deepfake_section(result: dict[str, Any]):
    """The report's "Deepfake detection" section."""
    from facetrust.demo.html import Section

    section = Section("deepfake", "Deepfake detection")
    section.text(f"The same engine answers a second trust question (task: deepfake; decisions say real/fake). "
                 f"deepfake-sim ({result['images']} frames at {SIZE} px) holds real faces, self-blended images "
                 "(sbi: a face blended with a colour/frequency-shifted copy of itself inside a deformed mask, "
                 "Shiohara & Yamasaki 2022) and identity swaps with up-sampling artefacts (swap). A tiny "
                 "EfficientNet teacher and a ResNet8 student distilled from it (L = 0.5 KL(T=4) + 0.5 CE, the "
                 "deepfake seed's objective) train on both families; threshold eer@val on the validation "
                 "subjects; tested on held-out subjects, one family at a time. The cross-manipulation "
                 "protocol is in benchmarks/deepfake_kd.py.")
    section.image(result["grid"], "deepfake-sim: real, self-blended and swapped faces of the same subjects")
    section.table(deepfake_rows(result), "Held-out subjects, frame level (%), real + each family's fakes; "
                                         "ACC and F1 (of the real class) at the eer@val threshold")
    section.image(result["heatmap"], f"Grad-CAM of the student's 'fake' logit on {result['heatmap_sample']}")
    return section
