"""The experiment schema of ``facetrust train`` for the binary trust tasks; YAML is validated against it.

``task: fas`` (default; FLIP teachers across capture domains) or ``task: deepfake`` (real vs fake;
e.g. an EfficientNet-B7 teacher, ``model.name: efficientnet_b7``). See ``configs/fas/`` (FLIP's paper
setups, ViT-B/16), ``configs/demo/`` (clip-tiny on fas-sim) and ``configs/deepfake/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FLIP_MODELS = ("flip_v", "flip_it", "flip_mcl")


@dataclass
class ModelConfig:
    # flip_v | flip_it | flip_mcl (CLIP + FLIP head), or any student backbone trained with
    # cross-entropy as a teacher: efficientnet_b7 (the deepfake seed's teacher), any timm name, resnet8
    name: str = "flip_it"
    clip: str = "ViT-B-16"  # FLIP models only
    # None (random), an open_clip tag ("openai") or a .safetensors path; timm models: "timm" or a path
    pretrained: str | None = None
    prompts: dict[str, list[str]] | None = None  # {"attack": [...], "bona fide": [...]}; None = the task's
    image_size: int = 224  # non-FLIP models: input side in pixels
    kwargs: dict[str, Any] = field(default_factory=dict)  # non-FLIP models, e.g. backbone_kwargs

    def __post_init__(self) -> None:
        if self.name in FLIP_MODELS:  # a CLIP typo is reported when the YAML is read, not after the data
            from facetrust.models.clip import check_clip

            check_clip(self.clip, self.pretrained)
        else:  # any other registered model (timm names resolve through the registry's fallback)
            from facetrust.models import list_models
            from facetrust.registry import MODELS

            list_models()  # registers facetrust's own models
            try:
                MODELS.get(self.name)
            except KeyError as err:
                from facetrust.errors import ConfigError

                raise ConfigError(f"model.name: {err.args[0]}; FLIP models: {', '.join(FLIP_MODELS)}") from None


@dataclass
class FasSimConfig:
    seed: int = 0
    image_size: int = 64
    subjects_per_domain: int = 10
    frames_per_video: int = 3
    dir: str | None = None  # where to generate it; default: <out>/fas-sim-s<seed>-<size>-<subjects>x<frames>


@dataclass
class DeepfakeSimConfig:
    seed: int = 0
    image_size: int = 64
    subjects: int = 100
    frames_per_video: int = 3
    dir: str | None = None  # where to generate it; default: <out>/deepfake-sim-s<seed>-<size>-<subjects>x<frames>


@dataclass
class DataConfig:
    manifest: str | None = None  # a manifest (CSV/Parquet); None = generate the task's benchmark
    fas_sim: FasSimConfig = field(default_factory=FasSimConfig)
    deepfake_sim: DeepfakeSimConfig = field(default_factory=DeepfakeSimConfig)
    num_workers: int = 0
    cache_images: bool = False  # decode every image once and keep it in memory (small data sets: fas-sim)


@dataclass
class ProtocolConfig:
    # leave_one_out: every domain of the manifest in turn is the target; protocol1/2/3: FLIP's tables;
    # custom: train on ``sources``, test on ``target``; split: one data set's own train/val/test
    # splits (deepfake 7:2:1), optionally by manipulation (train on one family, test on another).
    kind: Literal["leave_one_out", "protocol1", "protocol2", "protocol3", "custom", "split"] = "leave_one_out"
    # run only the folds whose target is listed (or whose name is); one name alone is a list of one
    targets: list[str] | str | None = None
    sources: list[str] | None = None
    target: str | None = None
    extra_sources: list[str] = field(default_factory=list)  # e.g. ["celeba_spoof"]
    train_manipulations: list[str] | None = None  # split: fakes of these kinds train and validate (None = all)
    test_manipulations: list[str] | None = None  # split: fakes of these kinds are tested (None = all)

    def __post_init__(self) -> None:
        if isinstance(self.targets, str):  # --set protocol.targets=cctv
            self.targets = [self.targets]


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
    task: Literal["fas", "deepfake"] = "fas"
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
