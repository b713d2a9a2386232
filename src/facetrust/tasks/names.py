"""What each binary trust task calls things: class names, decision words, titles, default CLIP prompts.

``fas`` (live vs presentation attack) and ``deepfake`` (real vs fake) share one engine; only these
names differ. Every model outputs (B, 2) logits ordered [negative, positive] (attack/fake, bona
fide/real); the score is P(positive) and a sample is accepted when ``score >= threshold``.
Standard library only, so the CLI and the service can import it at no cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from facetrust.prompts import FLIP_NEGATIVE_PROMPTS, FLIP_POSITIVE_PROMPTS

DEFAULT_TASK = "fas"


@dataclass(frozen=True)
class BinaryTaskSpec:
    """Names of one binary trust task."""

    name: str
    title: str  # report titles, e.g. "face anti-spoofing"
    class_names: tuple[str, str]  # stored in checkpoints, index order [negative, positive]
    decisions: tuple[str, str]  # display words (rejected, accepted)
    positive: str  # the accepted class in sentences ("bona fide", "real")
    negative: str  # the rejected class in sentences ("attack", "fake")
    prompts: dict[str, tuple[str, ...]]  # CLIP prompts per internal class key (FLIP-IT)
    default_manifest: str  # the embedded benchmark generated when a config names no manifest


# FLIP's six-prompt recipe rewritten for face manipulation (same count per class, so FLIP-MCL can
# split them into two disjoint halves).
DEEPFAKE_NEGATIVE_PROMPTS = (
    "This is an example of a deepfake face",
    "This is an example of a manipulated face",
    "This is not a real face",
    "This is how a deepfake face looks like",
    "a photo of a deepfake face",
    "a face swapped or blended onto another image",
)
DEEPFAKE_POSITIVE_PROMPTS = (
    "This is an example of a real face",
    "This is an unmanipulated face",
    "This is a real face",
    "This is how a real face looks like",
    "a photo of a real face",
    "This is not a deepfake face",
)

BINARY_TASKS: dict[str, BinaryTaskSpec] = {
    "fas": BinaryTaskSpec(
        "fas", "face anti-spoofing", ("attack", "bona fide"), ("spoof", "live"), "bona fide", "attack",
        {"attack": FLIP_NEGATIVE_PROMPTS, "bona fide": FLIP_POSITIVE_PROMPTS}, "fas-sim"),
    "deepfake": BinaryTaskSpec(
        "deepfake", "deepfake detection", ("fake", "real"), ("fake", "real"), "real", "fake",
        {"attack": DEEPFAKE_NEGATIVE_PROMPTS, "bona fide": DEEPFAKE_POSITIVE_PROMPTS}, "deepfake-sim"),
}


def task_spec(task: str | None) -> BinaryTaskSpec:
    """The spec of a binary task (None = ``fas``); a ValueError names the known tasks."""
    name = task or DEFAULT_TASK
    if name not in BINARY_TASKS:
        raise ValueError(f"unknown binary task {name!r}; binary tasks are {', '.join(BINARY_TASKS)}")
    return BINARY_TASKS[name]


def decision_label(task: str | None, accepted: bool) -> str:
    """Display word of a decision: "live"/"spoof" (fas), "real"/"fake" (deepfake)."""
    rejected, accepted_word = task_spec(task).decisions
    return accepted_word if accepted else rejected


def class_names(task: str | None) -> tuple[str, str]:
    """Class names stored in a checkpoint, in logit order [negative, positive]."""
    return task_spec(task).class_names


def default_prompts(task: str | None) -> dict[str, list[str]]:
    """FLIP-IT prompts for the task, keyed by FLIP's internal class keys ("attack", "bona fide")."""
    return {key: list(texts) for key, texts in task_spec(task).prompts.items()}


def task_of(config: dict | None) -> str:
    """The task recorded in a checkpoint's config.json (``fas`` for checkpoints that record none)."""
    return str((config or {}).get("task") or DEFAULT_TASK)
