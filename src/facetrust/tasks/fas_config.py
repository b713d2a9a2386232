"""The experiment schema of ``facetrust train`` (FLIP teachers); YAML files are validated against it.

See ``configs/fas/`` (FLIP's paper setups, ViT-B/16) and ``configs/demo/`` (clip-tiny on fas-sim).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class ModelConfig:
    name: Literal["flip_v", "flip_it", "flip_mcl"] = "flip_it"
    clip: str = "ViT-B-16"
    pretrained: str | None = None  # None (random), an open_clip tag ("openai") or a .safetensors path
    prompts: dict[str, list[str]] | None = None  # {"attack": [...], "bona fide": [...]}; None = FLIP's


@dataclass
class FasSimConfig:
    seed: int = 0
    image_size: int = 64
    subjects_per_domain: int = 10
    frames_per_video: int = 3
    dir: str | None = None  # where to generate it; default: <out>/fas-sim-s<seed>-<size>-<subjects>x<frames>


@dataclass
class DataConfig:
    manifest: str | None = None  # a manifest (CSV/Parquet); None = generate fas-sim
    fas_sim: FasSimConfig = field(default_factory=FasSimConfig)
    num_workers: int = 0
    cache_images: bool = False  # decode every image once and keep it in memory (small data sets: fas-sim)


@dataclass
class ProtocolConfig:
    # leave_one_out: every domain of the manifest in turn is the target; protocol1/2/3: FLIP's tables;
    # custom: train on ``sources``, test on ``target``.
    kind: Literal["leave_one_out", "protocol1", "protocol2", "protocol3", "custom"] = "leave_one_out"
    targets: list[str] | None = None  # run only the folds whose target is listed (or whose name is)
    sources: list[str] | None = None
    target: str | None = None
    extra_sources: list[str] = field(default_factory=list)  # e.g. ["celeba_spoof"]


@dataclass
class LossConfig:
    ce: float = 1.0  # alpha
    simclr: float = 1.0  # beta (FLIP-MCL only)
    mse: float = 1.0  # gamma (FLIP-MCL only)
    temperature: float = 0.1


@dataclass
class TrainConfig:
    iterations: int = 4000
    per_group: int = 3  # images per (source domain, class) in every batch
    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-6
    weight_decay: float = 1e-6
    warmup_iterations: int = 0
    schedule: Literal["constant", "cosine"] = "constant"
    augment: bool = True  # light crop/flip/jitter on the CE branch
    freeze: list[str] = field(default_factory=list)  # parameter-name prefixes kept fixed, e.g. clip.token_embedding
    val_every: int = 200
    eval_batch_size: int = 64


@dataclass
class TrainerConfig:
    accelerator: str = "auto"  # cpu, gpu, auto
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"  # e.g. ddp
    precision: str = "32-true"  # 16-mixed, bf16-mixed on GPUs
    num_threads: int = 0  # torch CPU threads (0 = leave as is)
    progress_bar: bool = True


@dataclass
class EvalConfig:
    threshold: str = "eer@val"  # eer@val | fixed:<t> | apcer@val:<x> | test-eer (FLIP compatibility)
    select: Literal["val_auc", "val_eer", "last"] = "val_auc"  # model selection on SOURCE validation
    n_bootstrap: int = 200


@dataclass
class FasExperiment:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seeds: list[int] = field(default_factory=lambda: [0])
    out: str = "runs/fas"
    name: str = "flip"
