"""The demo's CLIP pretraining step: clip-tiny pretrained on the captioned corpus, and the FLIP teacher
starts from it (on by default: ``DemoSettings.clip_pretrain``; ``facetrust demo --no-clip-pretrain``
turns it off). The pretrained teacher is the better one on fas-sim's held-out domain (docs/results.md,
"FLIP from a pretrained CLIP"), and the claims step judges claims with this CLIP.

Turned off, the step records ``{"enabled": false, "weights": null}`` at no cost, the teacher starts
from a random clip-tiny and the claims step is skipped. A cached record made with the other setting is
redone (and with it every later step).
"""

from __future__ import annotations

from typing import Any


def clip_config(ctx) -> dict[str, Any]:
    """The pretraining experiment of the demo (configs/clip/clip_tiny.yaml's recipe, demo-sized)."""
    s = ctx.settings
    return {
        "task": "clip", "name": "demo_clip",
        "model": {"clip": "clip-tiny", "pretrained": None},
        "data": {"corpus": {"seed": s.seed, "n_subjects": s.clip_subjects,
                            "images_per_subject": s.clip_images_per_subject, "image_size": 64,
                            "captions_per_image": 4, "dir": str(ctx.out / "captions")}},
        "train": {"iterations": s.clip_iterations, "batch_size": 64, "lr": 1e-3, "weight_decay": 0.1,
                  "warmup_iterations": max(1, s.clip_iterations // 12), "schedule": "cosine",
                  "val_every": max(10, s.clip_iterations // 4)},
        "trainer": {"accelerator": ctx.accelerator(), "devices": 1, "precision": "32-true", "progress_bar": True},
        "seeds": [s.seed],
        "out": str(ctx.out / "clip"),
    }


def step_clip(ctx) -> dict[str, Any]:
    """Pretrain clip-tiny (when enabled) -> weights path, held-out retrieval and zero-shot numbers."""
    if not ctx.settings.clip_pretrain:
        return {"enabled": False, "weights": None}
    from facetrust.config import from_dict
    from facetrust.tasks.clip import train_clip
    from facetrust.tasks.clip_config import ClipExperiment

    config = from_dict(ClipExperiment, clip_config(ctx), "demo clip config")
    (run,) = train_clip(config)["runs"]
    return {"enabled": True, "weights": run["weights"], "train_seconds": run["train_seconds"],
            "best_step": run["best_step"], "retrieval": run["retrieval"],
            "zero_shot": {k: {"balanced_accuracy": v["balanced_accuracy"], "chance_balanced": v["chance_balanced"]}
                          for k, v in run["zero_shot"].items()}}


def is_stale(settings, result: dict[str, Any]) -> bool:
    """A cached record made with the other ``clip_pretrain`` setting must be redone."""
    return bool(result.get("enabled")) != bool(settings.clip_pretrain)


def clip_section(result: dict[str, Any]):
    """The report section of this step (only when it ran)."""
    from facetrust.demo.html import Section

    section = Section("clip", "Pretraining clip-tiny on the captioned corpus")
    section.text(f"clip-tiny trained contrastively (open_clip's ClipLoss, learned temperature) for "
                 f"{result['train_seconds']:.0f} s on the captioned corpus (drawn faces, capture conditions, print / "
                 "screen / pasted presentations; nothing of fas-sim's subjects, frames or devices); the FLIP-IT "
                 "teacher starts from these weights. Retrieval on held-out subjects:")
    section.table([{"split": split, "images": int(r["images"]), "chance R@1 %": f"{100 * r['chance@1']:.2f}",
                    "image->text R@1 %": f"{100 * r['i2t_r@1']:.1f}", "text->image R@1 %": f"{100 * r['t2i_r@1']:.1f}",
                    "image->text R@5 %": f"{100 * r.get('i2t_r@5', 0):.1f}",
                    "text->image R@5 %": f"{100 * r.get('t2i_r@5', 0):.1f}"}
                   for split, r in result["retrieval"].items()], "Recall@k both ways")
    section.table([{"attribute": k, "balanced accuracy %": f"{100 * v['balanced_accuracy']:.1f}",
                    "chance %": f"{100 * v['chance_balanced']:.1f}"} for k, v in result["zero_shot"].items()],
                  "Zero-shot attribute classification by prompts (test subjects)")
    return section
