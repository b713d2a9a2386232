"""facetrust: decide whether a face can be trusted.

The public API is imported lazily so that ``import facetrust`` (and ``facetrust --help``) stays fast:
``create_model``, ``list_models``, ``save``, ``load``, ``load_model``, ``seed_everything``, and the
``metrics`` and ``evaluate`` modules.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "create_model": ("facetrust.models", "create_model"),
    "list_models": ("facetrust.models", "list_models"),
    "save": ("facetrust.checkpoint", "save"),
    "load_model": ("facetrust.checkpoint", "load_model"),
    "load": ("facetrust.predictor", "load"),
    "seed_everything": ("facetrust.seed", "seed_everything"),
    "evaluate": ("facetrust.evaluate", None),
    "metrics": ("facetrust.metrics", None),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'facetrust' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value
