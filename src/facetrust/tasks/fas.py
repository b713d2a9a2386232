"""Training binary trust models (``task: fas`` or ``deepfake``): a LightningModule and ``train_fas(config)``.

Per protocol fold and seed: balanced batches (k images per (source domain, class), FLIP's rule);
validation on held-out SOURCE data; the best validation state is kept (model selection) and the
operating threshold is calibrated on that validation data (``eer@val``), never on the target; the
checkpoint stores it; the unseen target domain is evaluated last. Lightning runs the loop, devices,
DDP and mixed precision. FLIP-MCL adds SimCLR and view-consistency losses (Srivatsan et al., ICCV 2023):
L = alpha * CE + beta * NT-Xent + gamma * MSE. Any other registered model (a timm backbone such as the
deepfake seed's EfficientNet-B7 teacher, or ResNet8) trains with cross-entropy through the same loop.
The task (``fas``/``deepfake``, see ``facetrust.tasks.names``) sets the default data set, prompts,
class names, titles and the checkpoint's recorded task; everything else is shared.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from facetrust import atomic
from facetrust.errors import ConfigError, DataError
from facetrust.losses.flip import nt_xent, split_prompts, view_consistency_mse
from facetrust.tasks.fas_config import FasExperiment
from facetrust.tasks.folds import default_data, manifest_for, protocols


class CachedImages(torch.utils.data.Dataset):
    """An ``ImageDataset`` whose images are decoded once and kept in memory (uint8); same items."""

    def __init__(self, dataset) -> None:
        from facetrust.data.io import read_image

        self.dataset = dataset
        self.images = [read_image(path, max_pixels=dataset.max_pixels) for path in dataset.paths]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        d = self.dataset
        return {"image": d.transform(self.images[index]), "label": d.labels[index], "domain": d.domains[index],
                "index": index}

    def groups(self) -> list[tuple[str, int]]:
        return self.dataset.groups()


class FasModule(pl.LightningModule):
    """Wires a FLIP model, its losses and the optimiser; keeps the best source-validation state."""

    def __init__(self, model: torch.nn.Module, config: FasExperiment, train_set, val_set, seed: int) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.train_set, self.val_set, self.seed = train_set, val_set, seed
        self.best_score = -math.inf
        self.best_step = -1
        self.best_state: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, float]] = []
        self._val_scores: list[torch.Tensor] = []
        self._val_labels: list[torch.Tensor] = []

    # --- data (built here so that every DDP rank draws its own balanced batches) ---------------------
    def train_dataloader(self) -> DataLoader:
        from facetrust.data.dataset import collate
        from facetrust.data.samplers import BalancedBatchSampler

        t = self.config.train
        sampler = BalancedBatchSampler(self.train_set.groups(), k=t.per_group,
                                       seed=self.seed + 1000 * self.global_rank, num_batches=t.iterations)
        return DataLoader(self.train_set, batch_sampler=sampler, collate_fn=collate,
                          num_workers=self.config.data.num_workers)

    def val_dataloader(self) -> DataLoader:
        from facetrust.data.dataset import collate

        return DataLoader(self.val_set, batch_size=self.config.train.eval_batch_size, shuffle=False,
                          collate_fn=collate, num_workers=self.config.data.num_workers)

    # --- training ------------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        labels = batch["label"]
        if getattr(self.model, "variant", None) == "mcl":
            losses = self._mcl_losses(batch["image"], labels)
        else:
            losses = {"ce": F.cross_entropy(self.model(batch["image"]), labels)}
        weights = {"ce": self.config.loss.ce, "simclr": self.config.loss.simclr, "mse": self.config.loss.mse}
        loss = sum(weights[name] * value for name, value in losses.items())
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.items()}, prog_bar=False)
        self.log("loss", loss.detach(), prog_bar=True)
        return loss

    def _mcl_losses(self, images: list[torch.Tensor], labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """FLIP-MCL: CE on the image, NT-Xent between two views, MSE between their cosines to the two
        disjoint prompt halves of each sample's class (a fresh split per class and step)."""
        model = self.model
        image, view1, view2 = images
        prompt_embeddings = model.encode_prompt_embeddings()  # (P, D) normalised, text tower in the graph
        class_embeddings = model.class_embeddings_from(prompt_embeddings)
        with torch.no_grad():
            model.class_text_embeddings.copy_(class_embeddings.detach())
        ce = F.cross_entropy(model.logits_from_embeddings(model.encode_image(image), class_embeddings), labels)
        z1, z2 = model.encode_image(view1), model.encode_image(view2)
        simclr = nt_xent(model.simclr_projector(z1), model.simclr_projector(z2), self.config.loss.temperature)
        halves_a, halves_b = [], []
        for c in range(2):
            members = torch.nonzero(model.prompt_class == c).flatten().tolist()
            a, b = split_prompts(members, seed=self.seed * 1_000_003 + self.global_step * 2 + c)
            halves_a.append(prompt_embeddings[a].mean(dim=0))
            halves_b.append(prompt_embeddings[b].mean(dim=0))
        text_a, text_b = torch.stack(halves_a)[labels], torch.stack(halves_b)[labels]  # (B, D)
        return {"ce": ce, "simclr": simclr, "mse": view_consistency_mse(z1, z2, text_a, text_b)}

    def configure_optimizers(self):
        t = self.config.train
        params = [p for p in self.model.parameters() if p.requires_grad]
        if getattr(self.model, "variant", None) == "v":  # FLIP-V trains the image tower and its head; the text side is unused
            params = [p for m in (self.model.clip.visual, self.model.head) for p in m.parameters() if p.requires_grad]
        optimizer_class = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
        optimizer = optimizer_class(params, lr=t.lr, weight_decay=t.weight_decay)

        from facetrust.tasks.schedule import step_scheduler

        return {"optimizer": optimizer,
                "lr_scheduler": step_scheduler(optimizer, t.iterations, t.warmup_iterations, t.schedule)}

    # --- validation on held-out source data: model selection --------------------------------------
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        scores = torch.softmax(self.model(batch["image"]).float(), dim=1)[:, 1]
        self._val_scores.append(scores.detach())
        self._val_labels.append(batch["label"].detach())

    def on_validation_epoch_end(self) -> None:
        from facetrust.metrics import auc, eer

        scores = torch.cat(self._val_scores)
        labels = torch.cat(self._val_labels)
        self._val_scores, self._val_labels = [], []
        if self.trainer.world_size > 1:
            scores = self.all_gather(scores).flatten()
            labels = self.all_gather(labels).flatten()
        scores_np, labels_np = scores.cpu().numpy(), labels.cpu().numpy()
        if self.trainer.sanity_checking or len(np.unique(labels_np)) < 2:
            return
        val_auc, (val_eer, _) = auc(scores_np, labels_np), eer(scores_np, labels_np)
        self.log_dict({"val_auc": val_auc, "val_eer": val_eer}, prog_bar=True, sync_dist=False)
        self.history.append({"step": int(self.global_step), "val_auc": val_auc, "val_eer": val_eer})
        select = self.config.eval.select
        score = {"val_auc": val_auc, "val_eer": -val_eer, "last": float(self.global_step)}[select]
        if score >= self.best_score:  # ties go to the later (longer trained) state
            self.best_score, self.best_step = score, int(self.global_step)
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}


@torch.no_grad()
def predict_scores(model: torch.nn.Module, dataset, batch_size: int = 64) -> np.ndarray:
    """P(bona fide) for every item of an ``ImageDataset`` (eval mode, no text tower involved)."""
    from facetrust.data.dataset import collate

    model.eval()
    device = next(model.parameters()).device
    out = []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate):
        out.append(torch.softmax(model(batch["image"].to(device)).float(), dim=1)[:, 1].cpu())
    return torch.cat(out).numpy() if out else np.empty(0)


def build_trainer(config, run_dir: Path) -> pl.Trainer:
    """The Lightning trainer of a training or distillation run: ``train.iterations`` steps, validation
    on source data every ``train.val_every`` steps, no Lightning checkpoints or loggers (the best
    state is kept in memory and saved as safetensors)."""
    from facetrust.console import progress_enabled, silence_known_noise

    silence_known_noise()  # Lightning's litlogger tip, the LeafSpec deprecation (unless --verbose)
    tc = config.trainer
    return pl.Trainer(
        max_steps=config.train.iterations, max_epochs=1, accelerator=tc.accelerator, devices=tc.devices,
        num_nodes=tc.num_nodes, strategy=tc.strategy, precision=tc.precision,
        val_check_interval=min(config.train.val_every, config.train.iterations), check_val_every_n_epoch=None,
        num_sanity_val_steps=0, enable_checkpointing=False, logger=False, use_distributed_sampler=False,
        enable_progress_bar=tc.progress_bar and progress_enabled(),  # bars on a terminal only
        enable_model_summary=False, default_root_dir=str(run_dir),
    )


def evaluate_fold(model: torch.nn.Module, config, protocol, seed: int, val, test):
    """Score source validation and the target with ``model`` (moved to the CPU, eval mode) and evaluate
    the target with the threshold strategy of ``config.eval``; ``val`` and ``test`` are (table, dataset)."""
    from facetrust.evaluate import ScoreSet, evaluate

    (val_df, val_set), (test_df, test_set) = val, test
    model.cpu().eval()
    val_scores = predict_scores(model, val_set, config.train.eval_batch_size)
    test_scores = predict_scores(model, test_set, config.train.eval_batch_size)
    return evaluate(ScoreSet.from_table(test_df, test_scores, protocol.target), config.eval.threshold,
                    val=ScoreSet.from_table(val_df, val_scores, "+".join(protocol.train_domains)),
                    n_bootstrap=config.eval.n_bootstrap, seed=seed)


def build_model(config: FasExperiment) -> torch.nn.Module:
    """The configured model, tagged with the task's name and class names (recorded in its checkpoint).

    FLIP models get the task's prompts unless the YAML gives its own (real/deepfake prompts for
    ``task: deepfake``, FLIP's for ``fas``); other models are built with ``image_size``,
    ``pretrained`` and ``kwargs``.
    """
    from facetrust.models import create_model
    from facetrust.tasks.fas_config import FLIP_MODELS
    from facetrust.tasks.names import class_names, default_prompts

    m, task = config.model, getattr(config, "task", "fas")
    if m.name in FLIP_MODELS:
        prompts = m.prompts if m.prompts is not None else (default_prompts(task) if task != "fas" else None)
        kwargs: dict[str, Any] = {"clip": m.clip, "pretrained": m.pretrained}
        if prompts is not None:
            kwargs["prompts"] = prompts
    else:
        if m.prompts is not None:
            raise ConfigError(f"model.prompts is for FLIP models ({', '.join(FLIP_MODELS)}), not {m.name!r}")
        kwargs = {"image_size": m.image_size, "pretrained": m.pretrained, **m.kwargs}
    try:
        model = create_model(m.name, **kwargs)
    except KeyError as err:
        raise ConfigError(f"model.name: {err.args[0]}") from err
    model.task = task
    model.class_names = class_names(task)
    return model


def train_one(config: FasExperiment, protocol, seed: int, df, run_dir: Path) -> dict[str, Any]:
    """Train one fold with one seed, calibrate on source validation, save the checkpoint, test the target."""
    import facetrust
    from facetrust.data import ImageDataset, split_protocol
    from facetrust.data.transforms import eval_transform, simclr_views, train_transform
    from facetrust.seed import seed_everything

    seed_everything(seed)
    model = build_model(config)
    for name, parameter in model.named_parameters():
        if any(name.startswith(prefix) for prefix in config.train.freeze):
            parameter.requires_grad_(False)
    train_df, val_df, test_df = split_protocol(df, protocol)
    if val_df.empty or val_df["label"].nunique() < 2:
        raise DataError(f"protocol {protocol.name}: the source domains have no 'val' split with both classes; "
                        "model selection and the eer@val threshold need held-out source data")
    pp = model.preprocess
    base = train_transform(pp) if config.train.augment else eval_transform(pp)
    if config.model.name == "flip_mcl":
        views = simclr_views(pp)
        transform = lambda image: (base(image), *views(image))  # noqa: E731
    else:
        transform = base
    train_set, val_set = ImageDataset(train_df, transform), ImageDataset(val_df, eval_transform(pp))
    test_set = ImageDataset(test_df, eval_transform(pp))
    if config.data.cache_images:
        train_set, val_set, test_set = CachedImages(train_set), CachedImages(val_set), CachedImages(test_set)
    module = FasModule(model, config, train_set, val_set, seed)
    trainer = build_trainer(config, run_dir)
    started = time.perf_counter()
    trainer.fit(module)
    train_seconds = time.perf_counter() - started
    if not trainer.is_global_zero:
        return {}
    if module.best_state is not None and config.eval.select != "last":
        model.load_state_dict(module.best_state)
    result = evaluate_fold(model, config, protocol, seed, (val_df, val_set), (test_df, test_set))
    frame = result.levels["frame"]
    metadata = {"protocol": protocol.name, "sources": list(protocol.train_domains), "target": protocol.target,
                "seed": seed, "best_step": module.best_step, "selection": config.eval.select,
                "train_seconds": round(train_seconds, 1), "metrics": frame.metrics,
                "data": str(config.data.manifest or default_data(config)), "history": module.history}
    from facetrust.data.video import read_crop_record

    facetrust.save(model, run_dir / "checkpoint", threshold=frame.threshold,
                   threshold_strategy=config.eval.threshold, metadata=metadata,
                   crop=read_crop_record(config.data.manifest))
    record = {"protocol": protocol.name, "target": protocol.target, "seed": seed, "model": config.model.name,
              "best_step": module.best_step, "train_seconds": round(train_seconds, 1),
              "checkpoint": str(run_dir / "checkpoint"), **result.to_dict()}
    atomic.write_text(run_dir / "result.json", json.dumps(record, indent=2, default=float))
    return record


def _cell(metrics: dict[str, Any], key: str) -> str:
    if key not in metrics:
        return "n/a"
    return f"{100 * metrics[key]['mean']:.2f} ± {100 * metrics[key]['std']:.2f}"


SUMMARY_COLUMNS = {
    "fas": (("HTER", "hter"), ("AUC", "auc"), ("TPR@FPR=1%", "tpr@fpr=1%"), ("EER", "eer")),
    "deepfake": (("ACC", "accuracy"), ("F1", "f1"), ("ACC@0.5", "accuracy@0.5"), ("F1@0.5", "f1@0.5"),
                 ("AUC", "auc"), ("EER", "eer"), ("AP", "ap")),
}


def summary_table(summary: dict[str, Any], level: str = "frame", task: str = "fas") -> str:
    """Markdown: one row per fold, mean ± std over seeds (in %) of the task's headline metrics
    (fas: HTER, AUC, TPR@FPR=1%, EER; deepfake: accuracy and F1 at the threshold and at 0.5, AUC,
    EER, AP)."""
    columns = SUMMARY_COLUMNS.get(task, SUMMARY_COLUMNS["fas"])
    rows = ["| fold | seeds | " + " | ".join(f"{title} %" for title, _ in columns) + " |",
            "|---|---|" + "---|" * len(columns)]
    for name, agg in summary.items():
        m = agg["levels"][level]
        rows.append(f"| {name} | {agg['runs']} | " + " | ".join(_cell(m, key) for _, key in columns) + " |")
    return "\n".join(rows)


def is_global_zero() -> bool:
    """Whether this process is global rank 0 (True outside distributed runs)."""
    import torch.distributed as dist
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return getattr(rank_zero_only, "rank", 0) == 0


def run_protocol_sweep(config, run_one, out: str | None, title: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Run ``run_one(config, protocol, seed, df, run_dir)`` for every selected fold and seed of a
    training or distillation config; write the resolved config, per-run results and a mean ± std
    summary (``summary.json``, ``summary.md``) and return the summary."""
    from facetrust.config import dump_config
    from facetrust.console import start_log
    from facetrust.data import read_manifest
    from facetrust.evaluate import aggregate_seeds
    from facetrust.resume import check_same_config, finished_record, resume_requested
    from facetrust.tasks.run import start_run

    config, out_dir = start_run(config, out)
    if is_global_zero():
        start_log(out_dir)  # everything printed and logged, in out/facetrust.log
    previous = (out_dir / "config.yaml").read_text() if resume_requested() and (out_dir / "config.yaml").is_file() else None
    dump_config(config, out_dir)
    if resume_requested():
        check_same_config(previous, (out_dir / "config.yaml").read_text(), out_dir)
    df = read_manifest(manifest_for(config, out_dir))
    runs: dict[str, list[dict[str, Any]]] = {}
    for protocol in protocols(config, df):
        for seed in config.seeds:
            run_dir = out_dir / protocol.name / f"seed{seed}"
            record = finished_record(run_dir) if resume_requested() else None
            if record is not None:
                print(f"resume: {protocol.name} seed {seed} finished before ({run_dir / 'result.json'}); not run again")
            else:
                record = run_one(config, protocol, seed, df, run_dir)
            if record:
                runs.setdefault(protocol.name, []).append(record)
    summary = {name: aggregate_seeds(records) for name, records in runs.items()}
    result = {"out": str(out_dir), "task": getattr(config, "task", "fas"), **extra, "seeds": list(config.seeds), "summary": summary, "runs": runs}
    if not is_global_zero():  # DDP: every rank runs this; only rank 0 reports and writes
        return result
    atomic.write_text(out_dir / "summary.json", json.dumps(result, indent=2, default=float))
    task = getattr(config, "task", "fas")
    text = (f"# {title}\n\n"
            f"Threshold: {config.eval.threshold}; model selection: {config.eval.select} on source validation.\n\n"
            f"## Frame level\n\n{summary_table(summary, 'frame', task)}\n\n"
            f"## Video level\n\n{summary_table(summary, 'video', task)}\n")
    atomic.write_text(out_dir / "summary.md", text)
    return result


def train_fas(config: FasExperiment, out: str | None = None) -> dict[str, Any]:
    """Run every selected fold with every seed; write per-run results and a mean ± std summary."""
    from facetrust.tasks.fas_config import FLIP_MODELS
    from facetrust.tasks.names import task_spec

    m = config.model
    model = f"{m.name} on {m.clip}" if m.name in FLIP_MODELS else f"{m.name} at {m.image_size} px"
    return run_protocol_sweep(config, train_one, out, f"{config.name} ({task_spec(config.task).title}): {model}",
                              {"model": m.name})
