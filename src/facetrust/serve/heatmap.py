"""The explain heatmap of one face, as the service returns it: a PNG (base64) and where it lies.

The map is computed by ``facetrust.explain`` on the exact crop the model scored, so it covers the
crop's square of the picture (``region``, [x, y, w, h] in upright-image pixels), which may reach
past the frame's edge for a margin crop (the crop is edge-replicated there).
"""

from __future__ import annotations

import base64
import threading
from typing import Any

import numpy as np

METHODS = ("gradcam", "clip-relevance")
_EXPLAIN_LOCK = threading.Lock()  # CAM hooks live on the shared model: one explanation at a time


class ExplainError(Exception):
    """``explain=`` cannot be served: ``status`` 409 (no PyTorch model loaded) or 422 (method unfit)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def crop_region(box: Any, entry: dict[str, Any], image_hw: tuple[int, int]) -> list[float]:
    """[x, y, w, h] of the picture one crop entry covers (margin: the square; scale: the clipped box)."""
    if entry["method"] == "margin":
        side = max(box.w, box.h) * (1 + 2 * float(entry["margin"]))
        return [box.x + box.w / 2 - side / 2, box.y + box.h / 2 - side / 2, side, side]
    from facetrust.faces.crop import scale_box

    x0, y0, x1, y1 = scale_box(image_hw, box, float(entry["scale"]))
    return [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]


def rgba_png_base64(heatmap: np.ndarray, alpha: float = 0.6) -> str:
    """Heatmap in [0, 1] -> base64 PNG, jet colours, transparency growing as the value falls."""
    import cv2

    values = np.clip(np.nan_to_num(heatmap.astype(np.float32)), 0.0, 1.0)
    colour = cv2.applyColorMap(np.uint8(np.round(255 * values)), cv2.COLORMAP_JET)  # BGR
    opacity = np.uint8(np.round(255 * alpha * (0.25 + 0.75 * values)))
    ok, png = cv2.imencode(".png", np.dstack([colour, opacity]))  # BGRA, as OpenCV writes it
    if not ok:
        raise RuntimeError("OpenCV could not encode the heatmap PNG")
    return base64.b64encode(png.tobytes()).decode("ascii")


def explain_face(model: Any, image: np.ndarray, box: Any, accepted: bool | None, method: str,
                 role: str = "fas") -> dict[str, Any]:
    """Heatmap of why ``model`` scored this face as it did: PNG, region, the class it explains."""
    if method not in METHODS:
        raise ExplainError(422, f"explain={method!r} is not offered; use one of {', '.join(METHODS)}")
    if model is None:
        raise ExplainError(
            409, f"explain needs the PyTorch checkpoint of the --{role} model, but the service holds only "
            "its ONNX export; start it with --fas pointing at a checkpoint folder (model.safetensors)"
        )
    from facetrust.explain import explain
    from facetrust.faces.crop import checkpoint_crop, crop_for_model

    crop = checkpoint_crop(getattr(model, "checkpoint_config", {}) or {}, model.preprocess)
    patch = crop_for_model(image, box, crop)
    target = 1 if accepted else 0  # logits [negative, positive]: explain the class decided
    class_names = tuple(getattr(model, "class_names", ("attack", "bona fide")))
    try:
        with _EXPLAIN_LOCK:
            heatmap = explain(model, patch, method, target=target)
    except (ValueError, TypeError, KeyError, RuntimeError) as err:
        raise ExplainError(422, f"explain={method} does not fit this model ({type(model).__name__}): {err}") from err
    region = crop_region(box, crop["crops"][0], image.shape[:2])
    return {"method": method, "explains": class_names[target],
            "region": [round(v, 2) for v in region], "size": [int(heatmap.shape[1]), int(heatmap.shape[0])],
            "png": rgba_png_base64(heatmap)}
