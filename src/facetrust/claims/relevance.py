"""Where in the region does CLIP find the claim? A clip-relevance map with the claim as the prompt.

The map is ``facetrust.explain``'s clip-relevance (Chefer et al. 2021) of the cosine similarity between
the region and "A photo depicts <claim>". Its faithfulness is measured as in ``explain.faithfulness``
(RISE deletion/insertion on the same similarity) and set against the same curves for a random map
of the same region: a map worth showing deletes faster (lower deletion AUC) and inserts faster
(higher insertion AUC) than random.
"""

from __future__ import annotations

import numpy as np

from facetrust.claims.model import ClipModel


def claim_heatmap(model: ClipModel, region: np.ndarray, prompt: str, steps: int = 8,
                  start_layer: int = 0) -> tuple[np.ndarray, dict[str, float]]:
    """(heatmap (H, W) in [0, 1] at the model's input size, faithfulness) of ``prompt`` on ``region``."""
    from facetrust.explain import explain
    from facetrust.explain.faithfulness import class_probability, deletion_insertion
    from facetrust.explain.targets import PromptSimilarity

    x = model.tensor([region])
    text_embedding = model.encode_texts([prompt])[0]
    similarity = PromptSimilarity(model.clip, text_embedding).to(model.device).eval()
    heatmap = explain(similarity, x, "clip-relevance", target=0, start_layer=start_layer)
    random_map = explain(similarity, x, "random", target=0)
    score = class_probability(0)  # one output: the cosine similarity itself
    curves = deletion_insertion(similarity, x, heatmap, score, steps=steps)
    floor = deletion_insertion(similarity, x, random_map, score, steps=steps)
    return heatmap, {
        "deletion_auc": round(curves.deletion_auc, 4), "insertion_auc": round(curves.insertion_auc, 4),
        "random_deletion_auc": round(floor.deletion_auc, 4), "random_insertion_auc": round(floor.insertion_auc, 4),
        "steps": steps,
    }
