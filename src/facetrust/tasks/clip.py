"""Contrastive language-image pretraining (``task: clip``) of an open_clip CLIP on the captioned corpus.

open_clip's ``ClipLoss`` (symmetric InfoNCE over the batch, learned temperature ``logit_scale``,
clamped to ln 100 after each step as open_clip's trainer does), open_clip's BPE tokenizer, AdamW with
no decay on gains/biases/temperature, warmup + cosine; Lightning runs the loop (``build_trainer`` of
the FAS task). Each batch holds distinct images with one random paraphrase each. Model selection on
the val subjects' mean recall@1; the test subjects are scored last (retrieval both ways, zero-shot
attribute classification) into ``report.json`` / ``report.md``. The weights are written as
``clip.safetensors`` (the open_clip model's state dict, with the model name in the file's metadata):
``model.pretrained: <that file>`` loads it through open_clip, the path real OpenAI/LAION weights take.
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

from facetrust.tasks.clip_config import ClipExperiment

WEIGHTS = "clip.safetensors"


class CaptionedImages:
    """One split of a captions manifest: images preprocessed once (no augmentation: captions name pose,
    colour and framing, which flips and crops would falsify) and every caption tokenised once."""

    def __init__(self, table, preprocess: dict, tokenizer) -> None:
        from facetrust.data.io import read_image
        from facetrust.predictor import preprocess_images

        self.table = table.reset_index(drop=True)
        images = [read_image(p) for p in self.table["abs_path"]]
        self.images = torch.from_numpy(preprocess_images(images, preprocess)) if images else torch.empty(0)
        texts = [c for captions in self.table["captions"] for c in captions]
        self.text_image = np.array([i for i, captions in enumerate(self.table["captions"]) for _ in captions])
        self.tokens = tokenizer(texts) if texts else torch.empty(0, dtype=torch.long)
        self.first_text = np.searchsorted(self.text_image, np.arange(len(self.table)))
        self.n_texts = np.bincount(self.text_image, minlength=len(self.table))

    def __len__(self) -> int:
        return len(self.table)


class PairBatches(torch.utils.data.Dataset):
    """Batch ``b`` of the schedule: distinct images (a seeded permutation) with one random caption each."""

    def __init__(self, data: CaptionedImages, batch_size: int, iterations: int, seed: int) -> None:
        self.data, self.batch_size, self.iterations, self.seed = data, min(batch_size, len(data)), iterations, seed

    def __len__(self) -> int:
        return self.iterations

    def __getitem__(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, b])
        images = rng.choice(len(self.data), size=self.batch_size, replace=False)
        texts = self.data.first_text[images] + rng.integers(0, self.data.n_texts[images])
        return self.data.images[images], self.data.tokens[texts]


class ClipModule(pl.LightningModule):
    def __init__(self, model, config: ClipExperiment, train_set: CaptionedImages, val_set: CaptionedImages,
                 seed: int) -> None:
        super().__init__()
        from open_clip.loss import ClipLoss

        self.model, self.config, self.seed = model, config, seed
        self.train_set, self.val_set = train_set, val_set
        self.loss = ClipLoss()
        self.best_score, self.best_step, self.best_state = -math.inf, -1, None
        self.history: list[dict[str, float]] = []

    def train_dataloader(self):
        t = self.config.train
        return torch.utils.data.DataLoader(PairBatches(self.train_set, t.batch_size, t.iterations, self.seed),
                                           batch_size=None, shuffle=False)

    def val_dataloader(self):  # validation is computed in one go in on_validation_epoch_end
        return torch.utils.data.DataLoader([0], batch_size=None)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, tokens = batch
        image_features = self.model.encode_image(images, normalize=True)
        text_features = self.model.encode_text(tokens, normalize=True)
        loss = self.loss(image_features, text_features, self.model.logit_scale.exp())
        self.log("loss", loss.detach(), prog_bar=True)
        self.log("temperature", 1.0 / self.model.logit_scale.exp().detach(), prog_bar=False)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        with torch.no_grad():  # as open_clip's trainer: logit scale in [0, ln 100]
            self.model.logit_scale.clamp_(0, math.log(100))

    def validation_step(self, batch, batch_idx: int) -> None:
        return None

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        recall = evaluate_retrieval(self.model, self.val_set, self.config.eval.recall_at)
        self.model.train()
        score = (recall["i2t_r@1"] + recall["t2i_r@1"]) / 2
        self.log("val_recall@1", score, prog_bar=True)
        self.history.append({"step": int(self.global_step), **recall})
        if self.config.eval.select == "last" or score >= self.best_score:
            self.best_score, self.best_step = score, int(self.global_step)
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def configure_optimizers(self):
        t = self.config.train
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim < 2 or "logit_scale" in name or name.endswith("bias") else decay).append(p)
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": t.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=t.lr, betas=(0.9, 0.98), eps=1e-6)

        from facetrust.tasks.schedule import step_scheduler

        return {"optimizer": optimizer,
                "lr_scheduler": step_scheduler(optimizer, t.iterations, t.warmup_iterations, t.schedule)}


def evaluate_retrieval(model, data: CaptionedImages, ks=(1, 5), batch_size: int = 256) -> dict[str, float]:
    """Recall@k both ways on one split (model in eval mode, no gradients)."""
    from facetrust.tasks.clip_eval import embed_images, embed_texts, retrieval_recall

    return retrieval_recall(embed_images(model, data.images, batch_size), embed_texts(model, data.tokens),
                            data.text_image, tuple(ks))


def save_clip(model, path: str | Path, name: str, metadata: dict[str, Any] | None = None) -> Path:
    """Write an open_clip model's state dict as ``.safetensors`` (model name and notes in its metadata)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "facetrust-clip", "open_clip_model": name, **{k: json.dumps(v) for k, v in (metadata or {}).items()}}
    save_file(state, str(path), metadata=meta)
    return path


def _corpus_manifest(config: ClipExperiment, out: Path) -> Path:
    if config.data.manifest:
        return Path(config.data.manifest)
    from facetrust.data.sim.captions import make_captions

    c = config.data.corpus
    name = f"captions-s{c.seed}-{c.image_size}-{c.n_subjects}x{c.images_per_subject}" + ("-lfw" if c.lfw_faces else "")
    folder = Path(c.dir) if c.dir else out / name
    if (folder / "manifest.csv").is_file():
        return folder / "manifest.csv"
    return make_captions(folder, seed=c.seed, n_subjects=c.n_subjects, images_per_subject=c.images_per_subject,
                         image_size=c.image_size, captions_per_image=c.captions_per_image, lfw_faces=c.lfw_faces)


def pretrain_one(config: ClipExperiment, table, seed: int, run_dir: Path, manifest: Path) -> dict[str, Any]:
    """Pretrain with one seed: train on the train subjects, select on val, report on test, save weights."""
    from facetrust.config import to_dict
    from facetrust.data.sim.caption_scenes import BACKGROUND_COLOURS
    from facetrust.models.clip import create_clip
    from facetrust.seed import seed_everything
    from facetrust.tasks.clip_eval import embed_images, report_markdown, zero_shot_attributes
    from facetrust.tasks.fas import build_trainer

    seed_everything(seed)
    model, tokenizer, preprocess = create_clip(config.model.clip, config.model.pretrained)
    for name, parameter in model.named_parameters():
        if any(name.startswith(prefix) for prefix in config.train.freeze):
            parameter.requires_grad_(False)
    splits = {s: CaptionedImages(table[table["split"] == s], preprocess, tokenizer) for s in ("train", "val", "test")}
    if len(splits["train"]) < 2 or len(splits["val"]) == 0:
        from facetrust.errors import DataError

        raise DataError(f"{manifest}: CLIP pretraining needs >= 2 train images and a val split")
    module = ClipModule(model, config, splits["train"], splits["val"], seed)
    started = time.perf_counter()
    trainer = build_trainer(config, run_dir)
    trainer.fit(module)
    train_seconds = time.perf_counter() - started
    if not trainer.is_global_zero:  # DDP: only rank 0 evaluates and writes
        return {}
    if module.best_state is not None:
        model.load_state_dict(module.best_state)
    model.cpu().eval()
    ks = config.eval.recall_at
    retrieval = {s: evaluate_retrieval(model, d, ks) for s, d in splits.items() if len(d) and s != "train"}
    colours = [c for c in BACKGROUND_COLOURS if c in set(table.get("background", []))] or list(BACKGROUND_COLOURS)
    test = splits["test"] if len(splits["test"]) else splits["val"]
    zero_shot = zero_shot_attributes(model, tokenizer, embed_images(model, test.images), test.table, colours)
    weights = save_clip(model, run_dir / WEIGHTS, config.model.clip,
                        {"seed": seed, "corpus": str(manifest), "best_step": module.best_step})
    record = {"weights": str(weights), "clip": config.model.clip, "seed": seed, "best_step": module.best_step,
              "train_seconds": round(train_seconds, 1), "corpus": str(manifest), "retrieval": retrieval,
              "zero_shot": zero_shot, "history": module.history, "config": to_dict(config),
              "use": f"model: {{clip: {config.model.clip}, pretrained: {weights}}}"}
    (run_dir / "report.json").write_text(json.dumps(record, indent=2, default=float))
    (run_dir / "report.md").write_text(report_markdown(f"{config.name}: {config.model.clip}, seed {seed}",
                                                       retrieval, zero_shot))
    return record


def train_clip(config: ClipExperiment, out: str | None = None) -> dict[str, Any]:
    """Pretrain once per seed (``<out>/`` for one seed, ``<out>/seed<N>/`` for several)."""
    from facetrust.config import dump_config
    from facetrust.data.sim.captions import read_captions
    from facetrust.tasks.run import start_run

    config, out_dir = start_run(config, out)
    dump_config(config, out_dir)
    manifest = _corpus_manifest(config, out_dir)
    table = read_captions(manifest)
    runs = []
    for seed in config.seeds:
        run_dir = out_dir if len(config.seeds) == 1 else out_dir / f"seed{seed}"
        record = pretrain_one(config, table, seed, run_dir, manifest)
        if record:
            runs.append(record)
    result = {"out": str(out_dir), "runs": runs}
    if runs:  # DDP ranks other than 0 have none and write nothing
        (out_dir / "summary.json").write_text(json.dumps(result, indent=2, default=float))
    return result


def train(path, overrides: list[str] | None = None, out: str | None = None) -> dict[str, Any]:
    """``facetrust train CONFIG`` for ``task: clip``: load, pretrain, print the report(s)."""
    from facetrust.config import load_config

    config = load_config(path, ClipExperiment, overrides or [])
    result = train_clip(config, out)
    for run in result["runs"]:
        print((Path(run["weights"]).parent / "report.md").read_text())
        print(f"weights: {run['weights']}  (FLIP configs: --set model.pretrained={run['weights']})")
    return result


def train_command(config_path, overrides: list[str] | None = None, out: str | None = None) -> int:
    """The ``facetrust train`` entry point of ``task: clip`` (``facetrust.tasks.TASKS``): exit status."""
    train(config_path, overrides, out)
    return 0
