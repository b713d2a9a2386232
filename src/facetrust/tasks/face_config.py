"""The experiment schema of ``task: face`` (``facetrust train`` / ``facetrust distill``); see configs/face/."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from facetrust.tasks.fas_config import TrainerConfig


@dataclass
class FaceModelConfig:
    name: str = "iresnet18"  # iresnet18/34/50, mobilefacenet, face_timm, test_iresnet, test_mobilefacenet
    embedding_size: int = 512
    input_size: int = 112
    kwargs: dict[str, Any] = field(default_factory=dict)  # extra builder arguments, e.g. {backbone: resnet18}


@dataclass
class HeadConfig:
    kind: Literal["arcface", "cosface", "softmax"] = "arcface"
    s: float = 64.0
    m: float | None = None  # None: 0.5 for ArcFace, 0.35 for CosFace
    easy_margin: bool = False


@dataclass
class FaceIdSimConfig:
    seed: int = 0
    image_size: int = 112
    identities: int = 100
    train_identities: int = 60
    views: int = 10
    val_views: int = 3
    pairs_per_fold: int = 30
    dir: str | None = None  # default: <out>/face-id-sim-s<seed>-<size>


@dataclass
class FaceDataConfig:
    # An identity manifest (``facetrust.data.identity.import_identity_folders``): split "train" rows
    # train the model; the pairs files give model selection + threshold (train_pairs) and the
    # reported test (test_pairs). None everywhere = generate face-id-sim. Images are aligned crops.
    manifest: str | None = None
    train_pairs: str | None = None
    test_pairs: str | None = None
    pairs_root: str | None = None  # folder of <name>/<name>_%04d<ext>; default: each pairs file's folder
    pairs_ext: str = ".jpg"
    face_id_sim: FaceIdSimConfig = field(default_factory=FaceIdSimConfig)


@dataclass
class FaceTrainConfig:
    iterations: int = 2000
    batch_size: int = 64
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_iterations: int = 0
    schedule: Literal["constant", "cosine"] = "cosine"
    flip: bool = True  # random horizontal flip of training faces
    val_every: int = 200
    eval_batch_size: int = 128


@dataclass
class FaceEvalConfig:
    folds: int = 10
    select: Literal["val_accuracy", "last"] = "val_accuracy"  # on the training-side pairs


@dataclass
class FaceDistillConfig:
    teacher: str = "dlib-resnet"  # a face checkpoint folder or dlib-resnet
    mse: float = 1.0  # MSE between normalised student and teacher embeddings
    rkd_distance: float = 1.0
    rkd_angle: float = 2.0
    margin: float = 1.0  # weight of the student's own margin loss


@dataclass
class FaceExperiment:
    task: Literal["face"] = "face"
    model: FaceModelConfig = field(default_factory=FaceModelConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    data: FaceDataConfig = field(default_factory=FaceDataConfig)
    train: FaceTrainConfig = field(default_factory=FaceTrainConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: FaceEvalConfig = field(default_factory=FaceEvalConfig)
    distill: FaceDistillConfig = field(default_factory=FaceDistillConfig)
    seeds: list[int] = field(default_factory=lambda: [0])
    out: str = "runs/face"
    name: str = "face"
