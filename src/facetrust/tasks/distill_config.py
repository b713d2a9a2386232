"""The experiment schema of ``facetrust distill``; YAML files are validated against it.

Data, protocol, trainer and evaluation sections are the same as ``facetrust train`` (FLIP teachers),
so a distillation run sees exactly the folds, source validation and thresholds its teacher saw.
See ``configs/distill/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from facetrust.tasks.fas_config import DataConfig, EvalConfig, ProtocolConfig, TrainerConfig

# kd = the deepfake seed's alpha * soft + (1 - alpha) * CE (loss_options.alpha, soft, temperature)
LOSS_NAMES = ("ce", "kd", "kd_kl", "kd_mse", "feature", "crd", "icl", "rkd_distance", "rkd_angle", "afd")


@dataclass
class TeacherConfig:
    # A facetrust checkpoint folder; "{protocol}" and "{seed}" are replaced per fold and seed, so each
    # fold is distilled from the teacher trained on that fold's sources (the target stays unseen).
    checkpoint: str = "runs/fas/{protocol}/seed{seed}/checkpoint"
    layers: list[str] | None = None  # modules to tap for AFD; None = 3 evenly spaced ViT blocks
    cache: bool = False  # cache teacher outputs per training sample (needs train.augment = false)


@dataclass
class StudentConfig:
    name: str = "mobilenetv3_small_100"  # any timm name, resnet8, clip_visual:<open_clip name>
    image_size: int = 64
    pretrained: str | None = None  # None = random init, no download
    kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. backbone_kwargs, vision_overrides
    layers: list[str] | None = None  # modules to tap for AFD; None = the student's feature_layers


@dataclass
class LossOptions:
    temperature: float = 4.0  # kd_kl, and kd with soft = kl
    alpha: float = 0.5  # kd: weight of the soft term (1 - alpha on the hard-label cross-entropy)
    soft: Literal["kl", "mse"] = "kl"  # kd: KL at temperature T (times T^2) or MSE of the logits
    crd_temperature: float = 0.07  # CLIP-KD's CRD
    afd_qk_dim: int = 64


@dataclass
class DistillTrainConfig:
    iterations: int = 600
    per_group: int = 4  # images per (source domain, class) in every batch
    optimizer: Literal["adam", "adamw"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: Literal["constant", "cosine"] = "cosine"
    augment: bool = True
    val_every: int = 100
    eval_batch_size: int = 128


@dataclass
class DistillExperiment:
    task: Literal["fas", "deepfake"] = "fas"
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    # Weight of every term; 0 switches it off. ce = hard-label cross-entropy; see LOSS_NAMES.
    losses: dict[str, float] = field(default_factory=lambda: {"ce": 1.0, "kd_kl": 1.0})
    loss_options: LossOptions = field(default_factory=LossOptions)
    data: DataConfig = field(default_factory=DataConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    train: DistillTrainConfig = field(default_factory=DistillTrainConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seeds: list[int] = field(default_factory=lambda: [0])
    out: str = "runs/distill"
    name: str = "distill"
