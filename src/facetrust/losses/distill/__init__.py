"""Knowledge-distillation losses, each a function (or, for AFD, a module) of tensors.

See ``logit.py`` (Hinton KD, logit MSE, and the deepfake seed's alpha-weighted soft + hard objective
``soft_hard_kd``), ``clip_kd.py`` (CLIP-KD: FD, CRD, ICL), ``rkd.py`` (RKD distance and angle) and
``afd.py`` (attention-based feature distillation).
"""

from facetrust.losses.distill.afd import AFD, spatial_map
from facetrust.losses.distill.clip_kd import crd, feature_distill, icl
from facetrust.losses.distill.logit import kd_kl, kd_mse, soft_hard_kd
from facetrust.losses.distill.rkd import rkd_angle, rkd_distance

__all__ = ["AFD", "crd", "feature_distill", "icl", "kd_kl", "kd_mse", "rkd_angle", "rkd_distance", "soft_hard_kd",
           "spatial_map"]
