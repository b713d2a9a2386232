"""Distilling a teacher into an edge student: a LightningModule and ``distill(config) -> result``.

The teacher is a FLIP checkpoint (``task: fas``) or any binary checkpoint of the same task (e.g. the
deepfake seed's EfficientNet-B7 trained by ``facetrust train`` with ``task: deepfake``).

The teacher is loaded from a checkpoint, frozen (no gradients) and kept in eval mode (``train()`` is
overridden so Lightning cannot switch it back, as open_clip's distillation does). The student gets the
teacher's class text embeddings as its classifier (``Student.set_classifier``). Every step the
student's batch is re-normalised (and resized) for the teacher when their preprocessing differs;
named forward taps feed AFD; the loss is a weighted sum of the terms named in the YAML ``losses``
section (``LOSS_NAMES``). Folds, balanced batches, source validation, model selection, thresholds
and evaluation are those of the teacher's own training (``facetrust.tasks.fas``), so the student is
measured exactly like its teacher. Output per fold and seed: a normal checkpoint with a calibrated
threshold, and ``result.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from facetrust import atomic
from facetrust.errors import CheckpointError, ConfigError, DataError
from facetrust.features import FeatureTaps, find_vit, token_layout, tokens_to_grid
from facetrust.losses import distill as L
from facetrust.tasks.distill_config import LOSS_NAMES, DistillExperiment
from facetrust.tasks.fas import FasModule, build_trainer, evaluate_fold, run_protocol_sweep
from facetrust.tasks.folds import default_data

EMBEDDING_LOSSES = ("feature", "crd", "icl", "rkd_distance", "rkd_angle")


def renormalise(images: torch.Tensor, source: dict[str, Any], target: dict[str, Any]) -> torch.Tensor:
    """Images normalised for ``source`` preprocessing -> normalised (and resized) for ``target``."""
    if source["mean"] == target["mean"] and source["std"] == target["std"]:
        out = images
    else:
        s_mean, s_std, t_mean, t_std = (
            torch.tensor(v, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
            for v in (source["mean"], source["std"], target["mean"], target["std"])
        )
        out = ((images * s_std + s_mean) - t_mean) / t_std
    size = tuple(target["input_size"][1:])
    if tuple(out.shape[-2:]) != size:
        out = F.interpolate(out, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out


def default_teacher_layers(teacher: nn.Module, count: int = 3) -> list[str]:
    """``count`` evenly spaced residual blocks of the teacher's ViT, named relative to the teacher."""
    vit = find_vit(teacher)
    if vit is None:
        raise ConfigError("the teacher has no ViT; set teacher.layers to the modules AFD should tap")
    prefix = next(name for name, module in teacher.named_modules() if module is vit)
    blocks = getattr(getattr(vit, "transformer", None), "resblocks", None) or vit.blocks
    depth = len(blocks)
    picks = sorted({min(depth - 1, round(depth * (i + 1) / count) - 1) for i in range(count)})
    inner = "transformer.resblocks" if hasattr(vit, "transformer") else "blocks"
    return [f"{prefix}.{inner}.{i}".lstrip(".") for i in picks]


def as_map(feature: torch.Tensor, model: nn.Module, input_hw: tuple[int, int]) -> torch.Tensor:
    """A tapped output as (B, C, H, W): ViT tokens are reshaped with the model's own token layout."""
    if feature.ndim == 4:
        return feature
    if feature.ndim == 3:
        return tokens_to_grid(feature, token_layout(model, input_hw))
    raise ValueError(f"cannot use a tapped output of shape {tuple(feature.shape)} as a feature map")


def load_teacher(path: str | Path) -> nn.Module:
    """A checkpoint's model, frozen: eval mode and no parameter requires a gradient."""
    from facetrust.checkpoint import load_model

    teacher = load_model(path)
    if not hasattr(teacher, "class_text_embeddings") or not hasattr(teacher, "encode_image"):
        raise CheckpointError(f"{path}: the teacher needs encode_image and class_text_embeddings "
                              "(a FLIP model or a facetrust student checkpoint)")
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher.eval()


class DistillModule(FasModule):
    """FasModule's data, validation and model selection, with a frozen teacher and KD losses."""

    def __init__(self, student: nn.Module, teacher: nn.Module, config: DistillExperiment,
                 train_set, val_set, seed: int, teacher_set=None) -> None:
        super().__init__(student, config, train_set, val_set, seed)
        self.teacher = teacher
        self.teacher_set = teacher_set  # the training images at the teacher's own preprocessing (cache)
        self.weights = {k: float(v) for k, v in config.losses.items() if float(v) != 0.0}
        self.student_layers = list(config.student.layers or getattr(student, "feature_layers", []))
        self.cache: dict[int, dict[str, Any]] | None = {} if config.teacher.cache else None
        self.uses_maps = "afd" in self.weights  # tap feature maps only when a loss reads them
        self.teacher_layers = list(config.teacher.layers or getattr(teacher, "feature_layers", None)
                                   or default_teacher_layers(teacher)) if self.uses_maps else []
        self.afd = self._build_afd() if self.uses_maps else None

    def train(self, mode: bool = True) -> DistillModule:
        super().train(mode)
        self.teacher.eval()  # frozen teacher: never dropout / batch-norm updates
        return self

    def _student_outputs(self, images: torch.Tensor) -> dict[str, Any]:
        hw = tuple(images.shape[-2:])
        with FeatureTaps(self.model, self.student_layers if self.uses_maps else []) as taps:
            embedding = self.model.encode_image(images)
        logits = self.model.logit_scale * embedding @ self.model.class_text_embeddings.t()
        maps = [as_map(taps.outputs[n], self.model, hw) for n in self.student_layers] if self.uses_maps else []
        return {"logits": logits, "embedding": embedding, "maps": maps}

    @torch.no_grad()
    def _teacher_outputs(self, images: torch.Tensor, native: bool = False) -> dict[str, Any]:
        """Teacher outputs for a student batch (re-normalised here) or a ``native`` teacher batch."""
        teacher_images = images if native else renormalise(images, self.model.preprocess, self.teacher.preprocess)
        hw = tuple(teacher_images.shape[-2:])
        with FeatureTaps(self.teacher, self.teacher_layers if self.uses_maps else [], detach=True) as taps:
            logits = self.teacher(teacher_images)
            embedding = self.teacher.encode_image(teacher_images)
        maps = [as_map(taps.outputs[n], self.teacher, hw) for n in self.teacher_layers] if self.uses_maps else []
        return {"logits": logits.float(), "embedding": embedding.float(), "maps": [m.float() for m in maps]}

    def teacher_outputs(self, images: torch.Tensor, indices: torch.Tensor) -> dict[str, Any]:
        """Teacher logits, embeddings and maps; from the per-sample cache when it is on.

        Cached outputs are computed once per training image, from ``teacher_set`` (the image at the
        teacher's own size and normalisation) when given, else from the re-normalised student batch.
        """
        if self.cache is None:
            return self._teacher_outputs(images)
        missing = [i for i, index in enumerate(indices.tolist()) if index not in self.cache]
        if missing:
            if self.teacher_set is not None:
                native = torch.stack([self.teacher_set[int(indices[i])]["image"] for i in missing]).to(images.device)
                fresh = self._teacher_outputs(native, native=True)
            else:
                fresh = self._teacher_outputs(images[missing])
            for row, i in enumerate(missing):
                self.cache[int(indices[i])] = {
                    "logits": fresh["logits"][row].cpu(), "embedding": fresh["embedding"][row].cpu(),
                    "maps": [m[row].cpu() for m in fresh["maps"]],
                }
        entries = [self.cache[int(index)] for index in indices.tolist()]
        device = images.device
        return {
            "logits": torch.stack([e["logits"] for e in entries]).to(device),
            "embedding": torch.stack([e["embedding"] for e in entries]).to(device),
            "maps": [torch.stack([e["maps"][k] for e in entries]).to(device) for k in range(len(entries[0]["maps"]))],
        }

    def _build_afd(self) -> L.AFD:
        """Channel counts of the tapped layers from one dry forward pass of two training images."""
        images = torch.stack([self.train_set[i]["image"] for i in range(2)])
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            student_maps = self._student_outputs(images)["maps"]
            teacher_maps = self._teacher_outputs(images)["maps"]
        self.model.train(was_training)
        return L.AFD([m.shape[1] for m in teacher_maps], [m.shape[1] for m in student_maps],
                     qk_dim=self.config.loss_options.afd_qk_dim)

    def loss_terms(self, student: dict[str, Any], teacher: dict[str, Any], labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every weighted term, by name (see ``LOSS_NAMES``)."""
        opts = self.config.loss_options
        s_emb, t_emb = student["embedding"], teacher.get("embedding")  # no teacher outputs for CE only
        s_txt, t_txt = self.model.class_text_embeddings, self.teacher.class_text_embeddings
        compute = {
            "ce": lambda: F.cross_entropy(student["logits"], labels),
            "kd": lambda: L.soft_hard_kd(student["logits"], teacher["logits"], labels, opts.alpha, opts.soft,
                                         opts.temperature),
            "kd_kl": lambda: L.kd_kl(student["logits"], teacher["logits"], opts.temperature),
            "kd_mse": lambda: L.kd_mse(student["logits"], teacher["logits"]),
            "feature": lambda: L.feature_distill(s_emb, t_emb),
            "crd": lambda: L.crd(s_emb, s_txt, t_emb, t_txt, opts.crd_temperature),
            "icl": lambda: L.icl(s_emb, t_txt.float(), self.model.logit_scale, labels),
            "rkd_distance": lambda: L.rkd_distance(s_emb, t_emb),
            "rkd_angle": lambda: L.rkd_angle(s_emb, t_emb),
            "afd": lambda: self.afd(student["maps"], teacher["maps"]),
        }
        return {name: compute[name]() for name in self.weights}

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        images, labels = batch["image"], batch["label"]
        student = self._student_outputs(images)
        needs_teacher = any(name != "ce" for name in self.weights)
        teacher = self.teacher_outputs(images, batch["index"]) if needs_teacher else {}
        terms = self.loss_terms(student, teacher, labels)
        loss = sum(self.weights[name] * value for name, value in terms.items())
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items()}, prog_bar=False)
        self.log("loss", loss.detach(), prog_bar=True)
        return loss

    def configure_optimizers(self):
        t = self.config.train
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self.afd is not None:
            params += list(self.afd.parameters())
        optimizer_class = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
        optimizer = optimizer_class(params, lr=t.lr, weight_decay=t.weight_decay)

        from facetrust.tasks.schedule import step_scheduler

        return {"optimizer": optimizer, "lr_scheduler": step_scheduler(optimizer, t.iterations, 0, t.schedule)}


def check_config(config: DistillExperiment) -> None:
    """Errors a YAML can make that the schema cannot express."""
    unknown = [k for k in config.losses if k not in LOSS_NAMES]
    if unknown:
        raise ConfigError(f"losses: unknown term(s) {unknown}; choose from {', '.join(LOSS_NAMES)}")
    if not any(float(v) != 0.0 for v in config.losses.values()):
        raise ConfigError("losses: every weight is 0; give at least one term a weight, e.g. ce: 1.0")
    if not 0.0 <= config.loss_options.alpha <= 1.0:
        raise ConfigError(f"loss_options.alpha = {config.loss_options.alpha}: the kd weight of the soft term must be in [0, 1]")
    if config.teacher.cache and config.train.augment:
        raise ConfigError("teacher.cache needs train.augment = false: augmented views change the teacher's outputs")


def build_student(config: DistillExperiment, teacher: nn.Module) -> nn.Module:
    """The configured student, projecting to the teacher's embedding size, with its classifier."""
    from facetrust.models import create_model

    s = config.student
    from facetrust.tasks.names import class_names

    teacher_task = getattr(teacher, "task", "fas")
    if teacher_task != config.task:
        raise ConfigError(f"the teacher checkpoint answers task {teacher_task!r} but the config says task: "
                          f"{config.task}; set task: {teacher_task} or choose a {config.task} teacher")
    embed_dim = int(teacher.class_text_embeddings.shape[-1])
    student = create_model(s.name, embed_dim=embed_dim, image_size=s.image_size, pretrained=s.pretrained, **s.kwargs)
    student.set_classifier(teacher)
    student.task, student.class_names = config.task, class_names(config.task)
    return student


def distill_one(config: DistillExperiment, protocol, seed: int, df, run_dir: Path) -> dict[str, Any]:
    """Distil one fold with one seed, calibrate on source validation, save, then test the target."""
    import facetrust
    from facetrust.data import ImageDataset, split_protocol
    from facetrust.data.transforms import eval_transform, train_transform
    from facetrust.seed import seed_everything

    teacher_path = Path(config.teacher.checkpoint.format(protocol=protocol.name, seed=seed))
    teacher = load_teacher(teacher_path)
    seed_everything(seed)
    student = build_student(config, teacher)
    train_df, val_df, test_df = split_protocol(df, protocol)
    if val_df.empty or val_df["label"].nunique() < 2:
        raise DataError(f"protocol {protocol.name}: no source 'val' split with both classes for calibration")
    pp = student.preprocess
    train_set = ImageDataset(train_df, train_transform(pp) if config.train.augment else eval_transform(pp))
    val_set, test_set = ImageDataset(val_df, eval_transform(pp)), ImageDataset(test_df, eval_transform(pp))
    teacher_set = ImageDataset(train_df, eval_transform(teacher.preprocess)) if config.teacher.cache else None
    if config.data.cache_images:  # decode each image once (small data sets such as fas-sim)
        from facetrust.tasks.fas import CachedImages

        train_set, val_set, test_set = CachedImages(train_set), CachedImages(val_set), CachedImages(test_set)
        teacher_set = CachedImages(teacher_set) if teacher_set is not None else None
    module = DistillModule(student, teacher, config, train_set, val_set, seed, teacher_set)
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    trainer = build_trainer(config, run_dir)
    started = time.perf_counter()
    trainer.fit(module)
    train_seconds = time.perf_counter() - started
    if not trainer.is_global_zero:
        return {}
    teacher.cpu()
    unchanged = all(torch.equal(teacher_before[k], v) for k, v in teacher.state_dict().items())
    if not unchanged:
        raise RuntimeError("the teacher's weights changed during distillation; this is a bug")
    if module.best_state is not None and config.eval.select != "last":
        student.load_state_dict(module.best_state)
    result = evaluate_fold(student, config, protocol, seed, (val_df, val_set), (test_df, test_set))
    frame = result.levels["frame"]
    params = sum(p.numel() for p in student.parameters())
    metadata = {"protocol": protocol.name, "sources": list(protocol.train_domains), "target": protocol.target,
                "seed": seed, "teacher": str(teacher_path), "losses": module.weights,
                "best_step": module.best_step, "selection": config.eval.select,
                "train_seconds": round(train_seconds, 1), "metrics": frame.metrics, "params": params,
                "data": str(config.data.manifest or default_data(config)), "history": module.history}
    facetrust.save(student, run_dir / "checkpoint", threshold=frame.threshold,
                   threshold_strategy=config.eval.threshold, metadata=metadata)
    record = {"protocol": protocol.name, "target": protocol.target, "seed": seed, "student": config.student.name,
              "losses": module.weights, "params": params, "teacher": str(teacher_path),
              "teacher_unchanged": unchanged, "best_step": module.best_step,
              "train_seconds": round(train_seconds, 1), "checkpoint": str(run_dir / "checkpoint"), **result.to_dict()}
    atomic.write_text(run_dir / "result.json", json.dumps(record, indent=2, default=float))
    return record


def distill(config: DistillExperiment, out: str | None = None) -> dict[str, Any]:
    """Run every selected fold with every seed; write per-run results and a mean ± std summary."""
    check_config(config)
    losses = ", ".join(f"{k} {v:g}" for k, v in config.losses.items() if v)
    if config.losses.get("kd"):
        o = config.loss_options
        losses += f"; kd: alpha {o.alpha:g}, soft {o.soft}" + (f", T {o.temperature:g}" if o.soft == "kl" else "")
    return run_protocol_sweep(config, distill_one, out, f"{config.name}: {config.student.name} distilled ({losses})",
                              {"student": config.student.name, "losses": config.losses})
