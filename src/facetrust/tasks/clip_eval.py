"""Zero-shot evaluation of a CLIP: image->text and text->image recall@k, and attribute classification by prompts.

Retrieval follows the COCO/Flickr convention: an image is retrieved correctly at k when ANY of its
captions is among the k texts closest to it; a caption is correct at k when its own image is among
the k closest images. Chance recall@1 is 1 / (number of images) for text->image and about the same
for image->text. Attribute classification embeds each value's prompts (``captions.prompt_texts``,
sentence frames the captions never use), takes their normalised mean, and assigns each held-out image
the closest value; accuracy is compared with the majority-class rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


@torch.no_grad()
def embed_images(model, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Normalised image embeddings (N, D) of preprocessed images (N, 3, H, W)."""
    model.eval()
    device = next(model.parameters()).device
    out = [model.encode_image(images[i : i + batch_size].to(device), normalize=True).float().cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.empty(0)


@torch.no_grad()
def embed_texts(model, tokens: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Normalised text embeddings (N, D) of tokenised texts (N, context)."""
    model.eval()
    device = next(model.parameters()).device
    out = [model.encode_text(tokens[i : i + batch_size].to(device), normalize=True).float().cpu()
           for i in range(0, len(tokens), batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def retrieval_recall(image_emb: torch.Tensor, text_emb: torch.Tensor, text_image: np.ndarray,
                     ks: tuple[int, ...] | list[int] = (1, 5)) -> dict[str, float]:
    """Recall@k both ways. ``text_image[j]`` is the image index of caption j. Ties count against the query."""
    text_image = torch.as_tensor(np.asarray(text_image), dtype=torch.long)
    sims = image_emb @ text_emb.t()  # (I, T)
    n_images = sims.shape[0]
    # image -> text: rank of the best-placed own caption = number of other captions scoring higher
    own = torch.zeros_like(sims, dtype=torch.bool)
    own[text_image, torch.arange(sims.shape[1])] = True
    best_own = sims.masked_fill(~own, -torch.inf).max(dim=1).values
    i2t_rank = ((sims >= best_own[:, None]) & ~own).sum(dim=1)
    # text -> image: number of other images at least as close to the caption as its own image
    correct = sims[text_image, torch.arange(sims.shape[1])]
    t2i_rank = (sims >= correct[None, :]).sum(dim=0) - 1
    out: dict[str, float] = {"images": float(n_images), "texts": float(sims.shape[1]), "chance@1": 1.0 / n_images}
    for k in ks:
        out[f"i2t_r@{k}"] = float((i2t_rank < k).float().mean())
        out[f"t2i_r@{k}"] = float((t2i_rank < k).float().mean())
    return out


def zero_shot_attributes(model, tokenizer, image_emb: torch.Tensor, table, colours: list[str]) -> dict[str, Any]:
    """Per attribute: accuracy of prompt-based classification on the images of ``table`` (rows align
    with ``image_emb``). Face attributes are scored on images with at least one face only."""
    from facetrust.data.sim.captions import ATTRIBUTES, FACE_ATTRIBUTES, attribute_values, prompt_texts

    results: dict[str, Any] = {}
    has_face = (table["n_faces"] != "0").to_numpy()
    for attribute in ATTRIBUTES:
        if attribute not in table.columns:
            continue
        values = attribute_values(attribute, colours)
        rows = has_face if attribute in FACE_ATTRIBUTES else np.ones(len(table), bool)
        truth = table[attribute].to_numpy()[rows]
        if rows.sum() == 0:
            continue
        class_emb = []
        for value in values:
            emb = embed_texts(model, tokenizer(prompt_texts(attribute, value)))
            class_emb.append(F.normalize(emb.mean(dim=0), dim=0))
        scores = image_emb[torch.tensor(rows)] @ torch.stack(class_emb).t()
        predicted = np.array(values)[scores.argmax(dim=1).numpy()]
        present = [v for v in values if (truth == v).any()]
        per_class = {v: float((predicted[truth == v] == v).mean()) for v in present}
        counts = {v: int((truth == v).sum()) for v in present}
        results[attribute] = {
            "accuracy": float((predicted == truth).mean()),
            "balanced_accuracy": float(np.mean(list(per_class.values()))),
            "majority": float(max(counts.values()) / len(truth)),
            "chance_balanced": 1.0 / len(values), "n": int(len(truth)), "per_class": per_class, "counts": counts,
        }
    return results


def report_markdown(title: str, retrieval: dict[str, dict[str, float]], zero_shot: dict[str, Any]) -> str:
    """The run's report: retrieval per split and zero-shot attribute accuracy (in %)."""
    lines = [f"# {title}", "", "## Retrieval (held-out subjects)", "",
             "| split | images | chance R@1 | i2t R@1 | i2t R@5 | t2i R@1 | t2i R@5 |", "|---|---|---|---|---|---|---|"]
    for split, r in retrieval.items():
        lines.append(f"| {split} | {int(r['images'])} | {100 * r['chance@1']:.2f} | {100 * r.get('i2t_r@1', 0):.1f} | "
                     f"{100 * r.get('i2t_r@5', 0):.1f} | {100 * r.get('t2i_r@1', 0):.1f} | {100 * r.get('t2i_r@5', 0):.1f} |")
    lines += ["", "## Zero-shot attribute classification (test split, prompts)", "",
              "| attribute | classes | images | accuracy % | balanced acc. % | majority % | chance (balanced) % |",
              "|---|---|---|---|---|---|---|"]
    for attribute, z in zero_shot.items():
        lines.append(f"| {attribute} | {len(z['per_class'])} | {z['n']} | {100 * z['accuracy']:.1f} | "
                     f"{100 * z['balanced_accuracy']:.1f} | {100 * z['majority']:.1f} | {100 * z['chance_balanced']:.1f} |")
    return "\n".join(lines) + "\n"
