"""The demo's optional CLIP pretraining step: clip-tiny pretrained on the captioned corpus, so the FLIP
teacher can start from it (``DemoSettings.clip_pretrain``, ``facetrust demo --clip-pretrain``).

Disabled, the step records ``{"enabled": false, "weights": null}`` at no cost and the teacher starts
from a random clip-tiny, as before. A cached record made with the other setting is redone.
"""

from __future__ import annotations

from typing import Any


def clip_config(ctx) -> dict[str, Any]:
    """The pretraining experiment of the demo (configs/clip/clip_tiny.yaml's recipe, demo-sized)."""
    s = ctx.settings
    return {
        "task": "clip", "name": "demo_clip",
        "model": {"clip": "clip-tiny", "pretrained": None},
        "data": {"corpus": {"seed": s.seed, "n_subjects": s.clip_subjects, "images_per_subject": 8, "image_size": 64,
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
