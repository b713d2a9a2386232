"""Model factory: ``create_model(name, **kwargs)`` and ``list_models()``.

Every module in this package registers its builders with ``@MODELS.register(...)`` on import; the
factory imports them all the first time it is called, so ``import facetrust`` stays light.

A builder returns an ``nn.Module`` that carries ``model.preprocess`` =
``{"input_size": (C, H, W), "mean": (...), "std": (...)}`` and optionally ``"channel_order"``
("rgb" default, or "bgr") and ``"pixel_scale"`` (255.0 default; 1.0 feeds raw 0..255); C = 3k for a
model of k face crops stacked on the channel axis (``facetrust.faces.crop``). The factory records the name and the
keyword arguments in ``model.architecture`` so that a checkpoint can rebuild the model; they must be
JSON-serialisable. Weights never come from ``pretrained`` when a checkpoint is loaded: the loader
passes ``pretrained=None`` and reads the safetensors file instead.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from facetrust.registry import MODELS

_loaded = False


def _import_model_modules() -> None:
    global _loaded
    if _loaded:
        return
    for info in pkgutil.iter_modules(__path__, prefix=__name__ + "."):
        importlib.import_module(info.name)
    _loaded = True


def validate_preprocess(preprocess: Any, where: str) -> dict:
    """Check and normalise a preprocessing dict; raise ValueError naming ``where`` if invalid."""
    if not isinstance(preprocess, dict):
        raise ValueError(f"{where}: preprocess must be a dict with input_size, mean and std")
    missing = {"input_size", "mean", "std"} - set(preprocess)
    if missing:
        raise ValueError(f"{where}: preprocess is missing {sorted(missing)}")
    size = tuple(int(v) for v in preprocess["input_size"])
    mean = tuple(float(v) for v in preprocess["mean"])
    std = tuple(float(v) for v in preprocess["std"])
    if len(size) != 3 or min(size) <= 0:
        raise ValueError(f"{where}: input_size must be (C, H, W) with positive sizes, got {size}")
    if len(mean) != size[0] or len(std) != size[0] or min(std) <= 0:
        raise ValueError(f"{where}: mean and std need {size[0]} values each and std > 0")
    if preprocess.get("channel_order", "rgb") not in ("rgb", "bgr"):
        raise ValueError(f"{where}: channel_order must be 'rgb' or 'bgr', got {preprocess['channel_order']!r}")
    if "pixel_scale" in preprocess and not float(preprocess["pixel_scale"]) > 0:
        raise ValueError(f"{where}: pixel_scale must be > 0 (255.0 = 0..1 input, 1.0 = raw 0..255)")
    return {**preprocess, "input_size": size, "mean": mean, "std": std}


def create_model(name: str, **kwargs: Any):
    """Build a registered model by name; see ``list_models()``."""
    _import_model_modules()
    builder = MODELS.get(name)
    model = builder(**kwargs)
    model.preprocess = validate_preprocess(getattr(model, "preprocess", None), f"model {name!r}")
    model.architecture = {"name": name, "kwargs": dict(kwargs)}
    return model


def list_models(pattern: str | None = None) -> list[str]:
    """Names of the registered models, optionally filtered by a shell-style pattern."""
    import fnmatch

    _import_model_modules()
    names = MODELS.names()
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names
