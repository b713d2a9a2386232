"""Metrics for face anti-spoofing: label 1 = bona fide, score = P(bona fide), accepted when
``score >= threshold``.

Binary metrics (AUC, EER, HTER, TPR@FPR, ROC points) and ISO/IEC 30107-3 PAD metrics (APCER per
species, BPCER, ACER, BPCER@APCER). Face verification: ``lfw_verification`` (the LFW 10-fold pairs protocol). Inputs may be lists, NumPy arrays or torch tensors; bad input
raises ``MetricError`` (a ``ValueError`` and a ``FacetrustError``).
"""

from facetrust.metrics._inputs import MetricError
from facetrust.metrics.binary import RocPoints, auc, eer, far_frr, hter, roc_points, tpr_at_fpr
from facetrust.metrics.iso_pad import bpcer_at_apcer, iso_pad, threshold_at_apcer
from facetrust.metrics.verification import lfw_verification

__all__ = [
    "MetricError",
    "RocPoints",
    "auc",
    "bpcer_at_apcer",
    "eer",
    "far_frr",
    "hter",
    "iso_pad",
    "lfw_verification",
    "roc_points",
    "threshold_at_apcer",
    "tpr_at_fpr",
]
