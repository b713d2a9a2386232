"""Module-level ``__getattr__`` that imports a package's public names on first use (PEP 562), so
``import facetrust.data`` or ``facetrust.export`` does not pull in torch."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_getattr(package: str, table: dict[str, str]) -> Callable[[str], Any]:
    """``__getattr__`` for ``package``: ``name`` is imported from the module ``table[name]`` and cached."""

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(table[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
