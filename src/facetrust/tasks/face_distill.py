"""Face-embedding distillation for the edge: a teacher (a face checkpoint or ``dlib-resnet``) ->
a student backbone (MobileFaceNet by default) through ``facetrust distill`` with ``task: face``.

Loss = ``distill.margin`` x the student's own margin loss (``head``) + ``distill.mse`` x MSE between
the L2-normalised student and teacher embeddings (needs equal sizes) + RKD distance and angle
(Park et al., CVPR 2019; ``facetrust.losses.distill.rkd``), which compare the geometry of the batch
and so work across embedding sizes. The teacher is frozen: its flip-fused embeddings of every training
image (and of its mirror image, for the flip augmentation) are computed once. Reported besides the
LFW protocol: the agreement of the student's verification decisions with the teacher's on the test
pairs, each at its own threshold chosen on the training-side pairs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from facetrust.errors import ConfigError
from facetrust.losses.distill.rkd import rkd_angle, rkd_distance
from facetrust.tasks.face import (
    FaceData,
    FaceModule,
    MarginHead,
    build_backbone,
    finish_run,
    run_seeds,
    train_tensors,
    verification,
)
from facetrust.tasks.face_config import FaceExperiment


class FaceDistillModule(FaceModule):
    def extra_losses(self, embedding: torch.Tensor, extra: list[torch.Tensor], flip: torch.Tensor) -> dict[str, torch.Tensor]:
        teacher, teacher_flipped = extra
        target = torch.where(flip[:, None], teacher_flipped, teacher)
        student = F.normalize(embedding, dim=1)
        losses = {"rkd_distance": rkd_distance(student, target), "rkd_angle": rkd_angle(student, target)}
        if student.shape[1] == target.shape[1]:
            losses["mse"] = F.mse_loss(student, target)
        return losses


def teacher_embeddings(embedder, data: FaceData) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) normalised teacher embeddings of the training images and of their mirror images."""
    # The flip-fused embedding e(x) + e(mirror x) is the same for an image and its mirror image (up to
    # the teacher's alignment of the mirrored crop), so one pass serves both; they are kept apart so a
    # teacher without the flip rule could fill them differently.
    plain = embedder.embed_aligned([data.images.get(p) for p in data.train_paths])
    return plain, plain


def decision_agreement(student_embed, teacher_embed, data: FaceData, folds: int) -> dict[str, Any]:
    """Share of test pairs on which student and teacher decide alike (thresholds from training-side pairs)."""
    from facetrust.tasks.face import pair_embeddings

    decisions = []
    for embed in (student_embed, teacher_embed):
        threshold = verification(embed, data.train_pairs, data.images, folds)["threshold_distance"]
        e1, e2, _ = pair_embeddings(embed, data.test_pairs, data.images)
        decisions.append(((e1 - e2) ** 2).sum(axis=1) < threshold)
    teacher_test = verification(teacher_embed, data.test_pairs, data.images, folds)
    return {"decision_agreement": float((decisions[0] == decisions[1]).mean()),
            "teacher_test_accuracy": teacher_test["accuracy"], "teacher_test_accuracy_std": teacher_test["accuracy_std"]}


def distill_one(config: FaceExperiment, data: FaceData, seed: int, run_dir: Path) -> dict[str, Any]:
    from facetrust.face.embedder import load_embedder
    from facetrust.seed import seed_everything
    from facetrust.tasks.face import torch_embed_fn
    from facetrust.tasks.fas import build_trainer

    seed_everything(seed)
    d = config.distill
    teacher = load_embedder(d.teacher)
    model = build_backbone(config)
    started = time.perf_counter()
    plain, mirrored = teacher_embeddings(teacher, data)
    if d.mse > 0 and plain.shape[1] != model.embedding_size:
        raise ConfigError(f"distill.mse needs the student's embedding size to equal the teacher's ({plain.shape[1]}); "
                          f"set model.embedding_size: {plain.shape[1]} or distill.mse: 0")
    base = train_tensors(data, model.preprocess)
    train_set = TensorDataset(*base.tensors, torch.from_numpy(plain).float(), torch.from_numpy(mirrored).float())
    h = config.head
    head = MarginHead(model.embedding_size, len(data.identities), h.kind, h.s, h.m, h.easy_margin)
    module = FaceDistillModule(model, head, config, data, train_set, seed)
    module.loss_weights = {"margin": d.margin, "mse": d.mse, "rkd_distance": d.rkd_distance, "rkd_angle": d.rkd_angle}
    trainer = build_trainer(config, run_dir)
    trainer.fit(module)
    if not trainer.is_global_zero:
        return {}
    if module.best_state is not None:
        model.load_state_dict(module.best_state)
    model.cpu().eval()
    extra = {"teacher": str(d.teacher), "teacher_hash": teacher.model_hash}
    if data.test_pairs:
        extra.update(decision_agreement(torch_embed_fn(model, model.preprocess), teacher.embed_aligned, data, config.eval.folds))
    module.best_state = None  # already restored
    return finish_run(model, module, config, data, run_dir, seed, time.perf_counter() - started, extra)


def distill_face(config: FaceExperiment, out: str | None = None) -> dict[str, Any]:
    return run_seeds(config, out, distill_one)
