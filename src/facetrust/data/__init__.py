"""Data: manifests, robust image reading, datasets, transforms, samplers, protocols, fas-sim.

Names are imported lazily so that ``import facetrust.data`` does not pull in torch.
"""

from __future__ import annotations

from facetrust._lazy import lazy_getattr

_LAZY = {
    "make_fas_sim": "facetrust.data.sim.fas_sim",
    "make_deepfake_sim": "facetrust.data.sim.deepfake_sim",
    "read_manifest": "facetrust.data.manifest",
    "write_manifest": "facetrust.data.manifest",
    "validate_manifest": "facetrust.data.manifest",
    "read_image": "facetrust.data.io",
    "write_image": "facetrust.data.io",
    "ImageDataset": "facetrust.data.dataset",
    "BalancedBatchSampler": "facetrust.data.samplers",
    "Protocol": "facetrust.data.protocols",
    "split_protocol": "facetrust.data.protocols",
    "leave_one_domain_out": "facetrust.data.protocols",
    "check_manifest": "facetrust.data.check",
}

__all__ = list(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY)
