"""Is what a text says about an image supported by it? Claim verification with CLIP.

``split_claims`` cuts an answer into atomic claims; ``clip_score`` is CLIPScore; ``ClaimVerifier``
scores each claim on the whole image, on each face and on object boxes, with a contrast test and a
decision calibrated on labelled validation claims (``fit_calibration``), and a relevance heatmap per
claim. ``facetrust verify-claims`` is the command; ``facetrust.claims.sim`` the claims-sim benchmark.
"""

from facetrust.claims.calibrate import Calibration, expected_calibration_error, fit_calibration
from facetrust.claims.contrast import alternatives, claim_scope, negate
from facetrust.claims.model import ClipModel, load_clip
from facetrust.claims.score import clip_score, contrast_probability
from facetrust.claims.split import SPLITTERS, split_claims
from facetrust.claims.verify import Claim, ClaimResult, ClaimVerifier

__all__ = [
    "SPLITTERS", "Calibration", "Claim", "ClaimResult", "ClaimVerifier", "ClipModel", "alternatives", "claim_scope",
    "clip_score", "contrast_probability", "expected_calibration_error", "fit_calibration", "load_clip", "negate",
    "split_claims",
]
