"""CLIP-KD losses: Yang et al., "CLIP-KD: An Empirical Study of CLIP Model Distillation", CVPR 2024.

- ``feature_distill`` (FD): MSE between the L2-normalised student and teacher image embeddings.
- ``crd`` (contrastive relational distillation): KL(teacher || student) between the image-to-text
  and the text-to-image similarity distributions, averaged over the two directions.
- ``icl`` (interactive contrastive learning): student image embeddings contrasted against the
  teacher's text embeddings with cross-entropy.

In FAS the "texts" are FLIP's two class text embeddings (2, D); CLIP-KD's captions are paired one to
one with images (targets = ``arange(B)``), which ``icl`` supports with ``targets=None``. Students
have no text tower, so only the image -> text direction of ICL exists here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def feature_distill(student_emb: torch.Tensor, teacher_emb: torch.Tensor) -> torch.Tensor:
    """Mean squared error of L2-normalised embeddings (B, D), mean over all elements.

    Sizes must match: the students' projection head maps to the teacher's embedding size
    (CLIP-KD's projector when dimensions differ).
    """
    if student_emb.shape != teacher_emb.shape:
        raise ValueError(
            f"student embeddings {tuple(student_emb.shape)} and teacher embeddings "
            f"{tuple(teacher_emb.shape)} differ; build the student with the teacher's embed_dim"
        )
    return F.mse_loss(F.normalize(student_emb, dim=-1), F.normalize(teacher_emb, dim=-1))


def _kl_rows(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    log_student = F.log_softmax(student_logits, dim=-1)
    log_teacher = F.log_softmax(teacher_logits, dim=-1)
    return (log_teacher.exp() * (log_teacher - log_student)).sum(dim=-1).mean()


def crd(
    student_img: torch.Tensor,
    student_txt: torch.Tensor,
    teacher_img: torch.Tensor,
    teacher_txt: torch.Tensor,
    temperature: float = 0.07,
) -> torch.Tensor:
    """CLIP-KD's CRD: KL(p_teacher || p_student) of softmax(cos / temperature), both directions.

    Images (B, D) and texts (K, D) are L2-normalised first. Image-to-text rows are distributions over
    the K texts; text-to-image rows are distributions over the B images of the batch (the relational
    part). The two KL terms (each averaged over its rows) are averaged.
    """
    s_img, s_txt = F.normalize(student_img, dim=-1), F.normalize(student_txt, dim=-1)
    t_img, t_txt = F.normalize(teacher_img, dim=-1), F.normalize(teacher_txt, dim=-1)
    student_logits = s_img @ s_txt.t() / temperature  # (B, K)
    teacher_logits = t_img @ t_txt.t() / temperature
    image_to_text = _kl_rows(student_logits, teacher_logits)
    text_to_image = _kl_rows(student_logits.t(), teacher_logits.t())
    return (image_to_text + text_to_image) / 2


def icl(
    student_img: torch.Tensor,
    teacher_txt: torch.Tensor,
    logit_scale: float | torch.Tensor = 1 / 0.07,
    targets: torch.Tensor | None = None,
) -> torch.Tensor:
    """CLIP-KD's ICL: cross-entropy of ``logit_scale * cos(student image, teacher text)``.

    ``targets`` (B,) index the matching text of each image; ``None`` pairs image i with text i as in
    CLIP-KD (then ``teacher_txt`` is (B, D)). With FLIP's class texts pass the class labels.
    """
    logits = logit_scale * F.normalize(student_img, dim=-1) @ F.normalize(teacher_txt, dim=-1).t()
    if targets is None:
        if teacher_txt.shape[0] != student_img.shape[0]:
            raise ValueError("icl without targets pairs image i with text i: give as many texts as images")
        targets = torch.arange(student_img.shape[0], device=student_img.device)
    return F.cross_entropy(logits, targets)
