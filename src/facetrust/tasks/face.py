"""``task: face``: train a face-embedding backbone with a margin head (ArcFace, CosFace or softmax).

Training images are aligned face crops of the training identities (split ``train`` of an identity
manifest); the margin head (one normalised centre per identity) exists only here and is never saved.
Every ``train.val_every`` steps the backbone is evaluated on the **training-side** pairs (held-out
images of the training identities, LFW format) with the LFW protocol; the best state is kept and the
verification threshold is the best-accuracy threshold on those pairs. The test pairs (other
identities) are evaluated once, at the end, and only reported. The checkpoint is the backbone with
its preprocessing, alignment and threshold (cosine similarity).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from facetrust.errors import ConfigError, DataError
from facetrust.losses.margin import arcface_logits, cosface_logits
from facetrust.tasks.face_config import FaceExperiment

DEFAULT_MARGIN = {"arcface": 0.5, "cosface": 0.35}
THRESHOLD_STRATEGY = "best-accuracy@train-pairs"


class MarginHead(nn.Module):
    """Training-only classifier: normalised identity centres + ArcFace/CosFace, or a plain linear softmax."""

    def __init__(self, embedding_size: int, classes: int, kind: str = "arcface", s: float = 64.0,
                 m: float | None = None, easy_margin: bool = False) -> None:
        super().__init__()
        self.kind, self.s, self.easy_margin = kind, s, easy_margin
        self.m = DEFAULT_MARGIN.get(kind, 0.0) if m is None else m
        if kind == "softmax":
            self.linear = nn.Linear(embedding_size, classes)
        else:
            self.weight = nn.Parameter(torch.randn(classes, embedding_size) * 0.01)

    def forward(self, embedding: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.kind == "softmax":
            return self.linear(embedding)
        cosine = F.normalize(embedding, dim=1) @ F.normalize(self.weight, dim=1).t()  # (B, C)
        if self.kind == "arcface":
            return arcface_logits(cosine, labels, self.s, self.m, self.easy_margin)
        return cosface_logits(cosine, labels, self.s, self.m)


# --- data ------------------------------------------------------------------------------------------
class FaceData:
    """Training tensors, identity names and the two pair lists of a face experiment."""

    def __init__(self, config: FaceExperiment, out: Path) -> None:
        from facetrust.data.identity import read_pairs
        from facetrust.data.manifest import read_manifest

        d = config.data
        manifest, train_pairs, test_pairs, root = d.manifest, d.train_pairs, d.test_pairs, d.pairs_root
        if manifest is None:
            from facetrust.data.sim.face_id_sim import make_face_id_sim

            sim = d.face_id_sim
            folder = Path(sim.dir) if sim.dir else out / f"face-id-sim-s{sim.seed}-{sim.image_size}"
            if not (folder / "manifest.csv").is_file():
                make_face_id_sim(folder, seed=sim.seed, image_size=sim.image_size, identities=sim.identities,
                                 train_identities=sim.train_identities, views=sim.views, val_views=sim.val_views,
                                 pairs_per_fold=sim.pairs_per_fold)
            manifest, train_pairs, test_pairs = folder / "manifest.csv", folder / "train_pairs.txt", folder / "pairs.txt"
            root = folder / "images"
        if train_pairs is None:
            raise ConfigError("data.train_pairs is needed: the threshold and model selection use training-side pairs")
        self.manifest = Path(manifest)
        df = read_manifest(manifest)
        train = df[df["split"] == "train"]
        if train.empty:
            raise DataError(f"{manifest}: no rows with split 'train'")
        self.identities = sorted(train["subject_id"].unique())
        index = {name: i for i, name in enumerate(self.identities)}
        self.train_paths = list(train["abs_path"])
        self.train_labels = np.array([index[s] for s in train["subject_id"]], dtype=np.int64)
        self.train_pairs = read_pairs(train_pairs, root, d.pairs_ext)
        self.test_pairs = read_pairs(test_pairs, root, d.pairs_ext) if test_pairs else []
        overlap = {Path(p).parent.name for pair in self.test_pairs for p in (pair.path_a, pair.path_b)} & set(self.identities)
        if overlap:
            raise DataError(f"test pairs use {len(overlap)} training identities (e.g. {sorted(overlap)[0]!r}); "
                            "identities must be disjoint between training and test pairs")
        self.images = ImageCache()


class ImageCache:
    """Decoded RGB uint8 images by path (the data sets here are small)."""

    def __init__(self) -> None:
        self._images: dict[str, np.ndarray] = {}

    def get(self, path: str) -> np.ndarray:
        if path not in self._images:
            from facetrust.data.io import read_image

            self._images[path] = read_image(path)
        return self._images[path]


def torch_embed_fn(model: nn.Module, preprocess: dict, batch_size: int = 128) -> Callable[[list[np.ndarray]], np.ndarray]:
    """Aligned uint8 faces -> (N, D) normalised flip-fused embeddings with a PyTorch backbone."""
    from facetrust.face.embedder import normalise
    from facetrust.predictor import preprocess_images

    def embed(faces: list[np.ndarray]) -> np.ndarray:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        out = []
        with torch.no_grad():
            for start in range(0, len(faces), batch_size):
                x = torch.from_numpy(preprocess_images(faces[start : start + batch_size], preprocess)).to(device)
                out.append((model(x) + model(torch.flip(x, dims=[3]))).double().cpu().numpy())
        model.train(was_training)
        return normalise(np.concatenate(out))

    return embed


def pair_embeddings(embed: Callable[[list[np.ndarray]], np.ndarray], pairs, images: ImageCache):
    """(emb1, emb2, same) for a pair list; each distinct image is embedded once."""
    paths = sorted({p for pair in pairs for p in (pair.path_a, pair.path_b)})
    table = dict(zip(paths, embed([images.get(p) for p in paths]), strict=True))
    emb1 = np.stack([table[p.path_a] for p in pairs])
    emb2 = np.stack([table[p.path_b] for p in pairs])
    return emb1, emb2, np.array([p.same for p in pairs])


def verification(embed, pairs, images: ImageCache, folds: int = 10) -> dict[str, Any]:
    """The LFW protocol on a pair list, plus the best-accuracy threshold over all its pairs."""
    from facetrust.metrics import lfw_verification
    from facetrust.metrics.verification import best_threshold, distance_to_cosine, squared_distances

    emb1, emb2, same = pair_embeddings(embed, pairs, images)
    result = lfw_verification(emb1, emb2, same, folds=folds)
    threshold, accuracy = best_threshold(squared_distances(emb1, emb2), same)
    return {**result, "threshold_distance": threshold, "threshold_cosine": distance_to_cosine(threshold),
            "accuracy_at_threshold": accuracy}


def train_tensors(data: FaceData, preprocess: dict) -> TensorDataset:
    from facetrust.predictor import preprocess_images

    x = preprocess_images([data.images.get(p) for p in data.train_paths], preprocess)
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(data.train_labels))


# --- Lightning ------------------------------------------------------------------------------------
class FaceModule(pl.LightningModule):
    """Backbone + margin head; the extra loss terms of a subclass (distillation) go in ``extra_losses``."""

    def __init__(self, model: nn.Module, head: MarginHead, config: FaceExperiment, data: FaceData,
                 train_set: TensorDataset, seed: int) -> None:
        super().__init__()
        self.model, self.head, self.config, self.data, self.train_set, self.seed = model, head, config, data, train_set, seed
        self.best_score, self.best_step, self.best_state = -math.inf, -1, None
        self.history: list[dict[str, float]] = []

    def train_dataloader(self) -> DataLoader:
        t = self.config.train
        generator = torch.Generator().manual_seed(self.seed)
        sampler = RandomSampler(self.train_set, replacement=True, num_samples=t.iterations * t.batch_size, generator=generator)
        return DataLoader(self.train_set, batch_size=t.batch_size, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.zeros(1)), batch_size=1)  # evaluation is done in on_validation_epoch_end

    def extra_losses(self, embedding: torch.Tensor, extra: list[torch.Tensor], flip: torch.Tensor) -> dict[str, torch.Tensor]:
        """More loss terms from the batch's extra tensors (after images, labels); none here."""
        return {}

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels, *extra = batch
        flip = torch.zeros(images.shape[0], dtype=torch.bool, device=images.device)
        if self.config.train.flip:
            flip = torch.rand(images.shape[0], device=images.device) < 0.5
            images = torch.where(flip[:, None, None, None], torch.flip(images, dims=[3]), images)
        embedding = self.model(images)
        losses = {"margin": F.cross_entropy(self.head(embedding, labels), labels)}
        losses.update(self.extra_losses(embedding, extra, flip))
        weights = getattr(self, "loss_weights", {})
        loss = sum(weights.get(name, 1.0) * value for name, value in losses.items())
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.items()})
        self.log("loss", loss.detach(), prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        return None

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        embed = torch_embed_fn(self.model, self.model.preprocess, self.config.train.eval_batch_size)
        result = verification(embed, self.data.train_pairs, self.data.images, self.config.eval.folds)
        self.log("val_accuracy", result["accuracy"], prog_bar=True)
        self.history.append({"step": int(self.global_step), "val_accuracy": result["accuracy"], "val_auc": result["auc"]})
        score = result["accuracy"] if self.config.eval.select == "val_accuracy" else float(self.global_step)
        if score >= self.best_score:
            self.best_score, self.best_step = score, int(self.global_step)
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def configure_optimizers(self):
        t = self.config.train
        params = [p for p in self.parameters() if p.requires_grad]
        if t.optimizer == "sgd":
            optimizer = torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
        else:
            optimizer = torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)

        from facetrust.tasks.schedule import step_scheduler

        return {"optimizer": optimizer,
                "lr_scheduler": step_scheduler(optimizer, t.iterations, t.warmup_iterations, t.schedule)}


def build_backbone(config: FaceExperiment) -> nn.Module:
    from facetrust.models import create_model

    m = config.model
    return create_model(m.name, embedding_size=m.embedding_size, input_size=m.input_size, **m.kwargs)


def finish_run(model: nn.Module, module: FaceModule, config: FaceExperiment, data: FaceData, run_dir: Path,
               seed: int, train_seconds: float, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Restore the best state, choose the threshold on the training-side pairs, test, save."""
    import facetrust
    from facetrust.faces.align import alignment_config

    if module.best_state is not None:
        model.load_state_dict(module.best_state)
    model.cpu().eval()
    embed = torch_embed_fn(model, model.preprocess, config.train.eval_batch_size)
    val = verification(embed, data.train_pairs, data.images, config.eval.folds)
    test = verification(embed, data.test_pairs, data.images, config.eval.folds) if data.test_pairs else None
    model.checkpoint_extra = {"task": "face", "embedding_size": int(model.embedding_size),
                              "alignment": alignment_config(None, int(model.preprocess["input_size"][-1])),
                              "head": {"kind": module.head.kind, "s": module.head.s, "m": module.head.m}}
    metadata = {"task": "face", "seed": seed, "best_step": module.best_step, "train_seconds": round(train_seconds, 1),
                "data": str(data.manifest), "identities": len(data.identities), "history": module.history,
                "train_pairs": _short(val), "test_pairs": _short(test) if test else None, **(extra or {})}
    checkpoint = facetrust.save(model, run_dir / "checkpoint", class_names=("embedding",),
                                threshold=val["threshold_cosine"], threshold_strategy=THRESHOLD_STRATEGY,
                                metadata=metadata)
    record = {"model": config.model.name, "head": module.head.kind, "seed": seed, "best_step": module.best_step,
              "train_seconds": round(train_seconds, 1), "checkpoint": str(checkpoint),
              "threshold_cosine": val["threshold_cosine"], "train_pairs": _short(val),
              "test_pairs": _short(test) if test else None, **(extra or {})}
    (run_dir / "result.json").write_text(json.dumps(record, indent=2, default=float))
    return record


def _short(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("accuracy", "accuracy_std", "auc", "eer", "tar@far=1e-3", "tar@far=1e-2", "pairs", "threshold_cosine")
    return {k: result[k] for k in keys if k in result}


def train_one(config: FaceExperiment, data: FaceData, seed: int, run_dir: Path) -> dict[str, Any]:
    from facetrust.seed import seed_everything
    from facetrust.tasks.fas import build_trainer

    seed_everything(seed)
    model = build_backbone(config)
    h = config.head
    head = MarginHead(model.embedding_size, len(data.identities), h.kind, h.s, h.m, h.easy_margin)
    module = FaceModule(model, head, config, data, train_tensors(data, model.preprocess), seed)
    trainer = build_trainer(config, run_dir)
    started = time.perf_counter()
    trainer.fit(module)
    if not trainer.is_global_zero:
        return {}
    return finish_run(model, module, config, data, run_dir, seed, time.perf_counter() - started)


def run_seeds(config: FaceExperiment, out: str | None, run_one) -> dict[str, Any]:
    """``run_one(config, data, seed, run_dir)`` for every seed; summary.json with mean ± std."""
    from facetrust.config import dump_config
    from facetrust.tasks.run import start_run

    config, out_dir = start_run(config, out)
    dump_config(config, out_dir)
    data = FaceData(config, out_dir)
    runs = [r for seed in config.seeds if (r := run_one(config, data, seed, out_dir / f"seed{seed}"))]
    tests = [r["test_pairs"]["accuracy"] for r in runs if r.get("test_pairs")]
    summary = {"out": str(out_dir), "model": config.model.name, "head": config.head.kind, "runs": runs,
               "test_accuracy_mean": float(np.mean(tests)) if tests else None,
               "test_accuracy_std": float(np.std(tests)) if tests else None}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    return summary


def train_face(config: FaceExperiment, out: str | None = None) -> dict[str, Any]:
    return run_seeds(config, out, train_one)


def _print(summary: dict[str, Any], what: str) -> None:
    for run in summary["runs"]:
        test = run.get("test_pairs") or {}
        val = run["train_pairs"]
        line = (f"{what} {run['model']} ({run['head']}) seed {run['seed']}: training-side pairs accuracy "
                f"{100 * val['accuracy']:.2f}%, threshold cos >= {run['threshold_cosine']:.3f}")
        if test:
            line += (f"; test pairs {100 * test['accuracy']:.2f} ± {100 * test['accuracy_std']:.2f}% "
                     f"(AUC {100 * test['auc']:.2f}%, TAR@FAR=1e-2 {100 * test['tar@far=1e-2']:.2f}%)")
        print(line)
    print(f"results in {summary['out']} (summary.json, seed<N>/checkpoint)")


def train_command(config_path: str, overrides: list[str], out: str | None) -> int:
    from facetrust.config import load_config

    _print(train_face(load_config(config_path, FaceExperiment, overrides), out), "trained")
    return 0


def distill_command(config_path: str, overrides: list[str], out: str | None) -> int:
    from facetrust.config import load_config
    from facetrust.tasks.face_distill import distill_face

    _print(distill_face(load_config(config_path, FaceExperiment, overrides), out), "distilled")
    return 0
