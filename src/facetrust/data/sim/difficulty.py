"""A plain baseline that measures how hard a manifest's cross-domain protocol is.

Logistic regression (scikit-learn) on hand-made features: per-channel colour histograms, Laplacian
energy, saturation statistics and the log power of six radial frequency bands. Leave-one-domain-out,
threshold at the EER of the sources' validation split (honest), frame level. It is the reference the
docs quote for fas-sim: a learnable benchmark puts it well below 50 % HTER, a hard one far above 0 %.
"""

from __future__ import annotations

import os

import numpy as np


def image_features(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> 58 features: 3 x 16 histogram bins, 4 texture/colour stats, 6 spectrum bands."""
    import cv2

    rgb = image.astype(np.float32) / 255.0
    hist = [np.histogram(rgb[..., c], 16, (0, 1))[0] / rgb[..., 0].size for c in range(3)]
    gray = rgb.mean(axis=2)
    laplacian = cv2.Laplacian(gray, cv2.CV_32F)
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32) / 255.0
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(gray - gray.mean())))
    h, w = gray.shape
    yy, xx = np.mgrid[0:h, 0:w]
    radius = np.hypot((yy - h // 2) / h, (xx - w // 2) / w)  # cycles per pixel
    edges = (0, 0.06, 0.12, 0.19, 0.25, 0.37, 0.72)
    bands = []
    for low, high in zip(edges, edges[1:], strict=False):
        ring = spectrum[(radius >= low) & (radius < high)]
        bands.append(np.log((ring.mean() if ring.size else 0.0) + 1e-6))  # tiny images: empty rings
    stats = [laplacian.std(), np.abs(laplacian).mean(), hsv[..., 1].mean(), hsv[..., 1].std()]
    return np.concatenate([*hist, stats, bands]).astype(np.float32)


def baseline_report(manifest: str | os.PathLike) -> list[dict]:
    """Per leave-one-domain-out fold: source-val AUC, target AUC, target HTER at the val EER threshold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from facetrust import metrics
    from facetrust.data.io import read_image
    from facetrust.data.manifest import read_manifest
    from facetrust.data.protocols import leave_one_domain_out, split_protocol

    df = read_manifest(manifest)
    features = {p: image_features(read_image(p)) for p in df["abs_path"]}
    rows = []
    for protocol in leave_one_domain_out(list(dict.fromkeys(df["domain"]))):
        train, val, test = split_protocol(df, protocol)
        x = {name: np.stack([features[p] for p in part["abs_path"]]) for name, part in
             (("train", train), ("val", val), ("test", test))}
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        model.fit(x["train"], train["label"].to_numpy())
        val_scores = model.predict_proba(x["val"])[:, 1]
        test_scores = model.predict_proba(x["test"])[:, 1]
        _, threshold = metrics.eer(val_scores, val["label"].to_numpy())
        rows.append({"protocol": protocol.name, "target": protocol.target,
                     "val_auc": metrics.auc(val_scores, val["label"].to_numpy()),
                     "target_auc": metrics.auc(test_scores, test["label"].to_numpy()),
                     "target_hter": metrics.hter(test_scores, test["label"].to_numpy(), threshold)})
    return rows
