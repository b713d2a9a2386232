"""One generic registry: models, losses, detectors and explainers are looked up by name.

Modelled on timm's ``@register_model``: builders register themselves on import, and a factory
looks them up instead of an if/elif chain. A registry may also have fallbacks, functions that
resolve a whole family of names (for example any timm model name) to a builder.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

Builder = Callable[..., Any]


class Registry:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, Builder] = {}
        self._fallbacks: list[Callable[[str], Builder | None]] = []

    def register(self, name: str | None = None) -> Callable[[Builder], Builder]:
        """Decorator: ``@MODELS.register("flip_it")``; the function's name when none is given."""

        def decorator(builder: Builder) -> Builder:
            key = name or builder.__name__
            if key in self._builders and self._builders[key] is not builder:
                raise KeyError(f"{self.kind} {key!r} is registered twice")
            self._builders[key] = builder
            return builder

        return decorator

    def add_fallback(self, resolver: Callable[[str], Builder | None]) -> None:
        """Add a resolver tried, in order, for names that are not registered."""
        self._fallbacks.append(resolver)

    def get(self, name: str) -> Builder:
        if name in self._builders:
            return self._builders[name]
        for resolver in self._fallbacks:
            builder = resolver(name)
            if builder is not None:
                return builder
        close = difflib.get_close_matches(name, self._builders, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(
            f"unknown {self.kind} {name!r}.{hint} Registered: {', '.join(sorted(self._builders))}"
        )

    def __contains__(self, name: str) -> bool:
        return name in self._builders

    def names(self) -> list[str]:
        return sorted(self._builders)


MODELS = Registry("model")
LOSSES = Registry("loss")
DETECTORS = Registry("face detector")
EXPLAINERS = Registry("explainer")
