"""The experiment schema of ``facetrust train`` with ``task: clip`` (contrastive language-image pretraining).

See ``configs/clip/`` (clip-tiny for tests and the demo, clip-small one size up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from facetrust.tasks.fas_config import TrainerConfig


@dataclass
class ClipModelConfig:
    clip: str = "clip-tiny"  # clip-tiny, clip-small or any open_clip name
    pretrained: str | None = None  # start from weights (open_clip tag or .safetensors); None = random init


@dataclass
class CorpusConfig:
    """``facetrust.data.sim.captions.make_captions`` settings (used when no manifest is given)."""

    seed: int = 0
    n_subjects: int = 200
    images_per_subject: int = 8
    image_size: int = 64
    captions_per_image: int = 4
    lfw_faces: bool = False  # shares fas-sim's LFW faces: breaks the no-target-leak rule (measuring only)
    dir: str | None = None  # where to generate it; default: <out>/captions-s<seed>-<size>-<subjects>x<images>


@dataclass
class ClipDataConfig:
    manifest: str | None = None  # a captions manifest; None = generate the corpus
    corpus: CorpusConfig = field(default_factory=CorpusConfig)


@dataclass
class ClipTrainConfig:
    iterations: int = 1000
    batch_size: int = 64  # distinct images per batch, one random caption each
    lr: float = 1e-3
    weight_decay: float = 0.1  # not on gains, biases, embeddings' 1-d params or the temperature
    warmup_iterations: int = 50
    schedule: Literal["constant", "cosine"] = "cosine"
    freeze: list[str] = field(default_factory=list)  # parameter-name prefixes kept fixed
    val_every: int = 200
    eval_batch_size: int = 256


@dataclass
class ClipEvalConfig:
    recall_at: list[int] = field(default_factory=lambda: [1, 5])
    select: Literal["val_recall", "last"] = "val_recall"  # keep the state with the best val mean recall@1


@dataclass
class ClipExperiment:
    task: Literal["clip"] = "clip"
    model: ClipModelConfig = field(default_factory=ClipModelConfig)
    data: ClipDataConfig = field(default_factory=ClipDataConfig)
    train: ClipTrainConfig = field(default_factory=ClipTrainConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: ClipEvalConfig = field(default_factory=ClipEvalConfig)
    seeds: list[int] = field(default_factory=lambda: [0])
    out: str = "runs/clip"
    name: str = "clip"
