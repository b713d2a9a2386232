"""Do decisions survive a change of precision? FP32 vs INT8 decision agreement on held-out images,
its smooth estimate, and the scale to read it against: how often FP32 changes its own decisions when
every pixel moves by one intensity level (``pixel_noise``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from facetrust.predictor import softmax_bona_fide


def pixel_noise(images: list[np.ndarray], seed: int = 0, levels: int = 1) -> list[np.ndarray]:
    """Copies of uint8 images with every value moved by a seeded random step in [-levels, levels].

    The FP32 model's agreement with itself on these is the scale against which INT8 disagreement is
    read: a model that changes decisions when pixels move by one intensity level (invisible, smaller
    than JPEG noise) will also change them under quantization, and no quantizer fixes that.
    """
    rng = np.random.default_rng(seed)
    return [np.clip(image.astype(np.int16) + rng.integers(-levels, levels + 1, image.shape), 0, 255).astype(np.uint8)
            for image in images]


def onnx_logits(session, batch: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """(N, 2) logits [attack, bona fide] from an ORT session on a preprocessed batch."""
    name = session.get_inputs()[0].name
    out = [session.run(None, {name: np.ascontiguousarray(batch[i : i + batch_size])})[0]
           for i in range(0, len(batch), batch_size)]
    return np.concatenate(out) if out else np.empty((0, 2), dtype=np.float32)


def onnx_scores(session, batch: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """P(bona fide) from an ORT session on a preprocessed batch."""
    return softmax_bona_fide(onnx_logits(session, batch, batch_size))


def decision_agreement(fp32_scores: np.ndarray, int8_scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Share of samples whose live/spoof decision (``score >= threshold``) is the same in both."""
    fp32_scores = np.asarray(fp32_scores, dtype=np.float64)
    int8_scores = np.asarray(int8_scores, dtype=np.float64)
    if fp32_scores.shape != int8_scores.shape or fp32_scores.size == 0:
        raise ValueError("decision_agreement needs two non-empty score arrays of the same shape")
    same = (fp32_scores >= threshold) == (int8_scores >= threshold)
    return {"agreement": float(same.mean()), "samples": int(same.size), "disagreements": int((~same).sum()),
            "threshold": float(threshold), "max_abs_score_diff": float(np.abs(fp32_scores - int8_scores).max())}


def onnx_decision_logits(session, batch: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """logit(bona fide) - logit(attack) from an ORT session: the log-odds whose sigmoid is the score."""
    logits = onnx_logits(session, batch, batch_size).astype(np.float64)
    return logits[:, 1] - logits[:, 0]


def expected_agreement(fp32_logits: np.ndarray, int8_logits: np.ndarray, threshold: float) -> float:
    """Smooth estimate of decision agreement: the mean over images of the chance that a Gaussian error
    with the observed spread of ``int8 - fp32`` decision logits leaves the image on its side of the
    threshold. Counting flips on a few hundred images moves by 1/N per image near the threshold; this
    uses every image's distance to it, so a choice made on it carries over better to other images."""
    import math

    fp32_logits = np.asarray(fp32_logits, dtype=np.float64)
    spread = float(np.std(np.asarray(int8_logits, dtype=np.float64) - fp32_logits))
    if spread == 0.0:
        return 1.0
    distance = np.abs(fp32_logits - log_odds(threshold)) / spread
    flip = [0.5 * math.erfc(z / math.sqrt(2.0)) for z in distance]  # P(N(0, 1) > z)
    return float(1.0 - np.mean(flip))


def log_odds(threshold: float) -> float:
    """A threshold on P(bona fide) as a threshold on ``onnx_decision_logits`` (clipped to finite)."""
    p = min(max(float(threshold), 1e-12), 1 - 1e-12)
    return float(np.log(p) - np.log1p(-p))
