"""Experiment configs: YAML validated against dataclasses, ``--set a.b=c`` overrides, resolved dump.

A task declares its config as (nested) dataclasses. ``load_config(path, Schema, overrides)`` reads
the YAML, applies overrides, and builds the dataclass; an unknown key, a wrong type or a missing
required value is a ``ConfigError`` naming the key and the file. Only a ``yaml.SafeLoader`` is used,
so no YAML tag can run code.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from facetrust.errors import ConfigError

T = TypeVar("T")


def _yaml_loader():
    """``yaml.SafeLoader`` that also reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
            |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
            |\.[0-9_]+(?:[eE][-+][0-9]+)?
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""",
            re.X,
        ),
        list("-+0123456789."),
    )
    return Loader


def safe_load_yaml(text: str) -> Any:
    """Parse YAML safely (no tags that run code), with exponent floats such as ``1e-4``."""
    import yaml

    return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.lr=1e-4"`` -> (["train", "lr"], 0.0001); the value is parsed as YAML."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE with a dotted key, e.g. train.lr=1e-4")
    try:
        value = safe_load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({err})") from err
    return key.strip().split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Return a copy of ``data`` with each ``KEY=VALUE`` override applied (keys checked later)."""
    import copy

    result = copy.deepcopy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node = result
        for depth, key in enumerate(keys[:-1]):
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                where = ".".join(keys[: depth + 1])
                raise ConfigError(f"--set {text!r}: {where} is a value, not a section")
            node = child
        node[keys[-1]] = value
    return result


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (int -> float, list -> tuple)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, key, source)
            except ConfigError as err:
                errors.append(err)
        raise ConfigError(f"{source}: {key} = {value!r} is not a {_type_name(tp)}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{source}: {key} = {value!r} must be one of {list(args)}")
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key, source)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key} = {value!r} must be a list")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{source}: {key} needs {len(args)} values, got {len(value)}")
            return tuple(_convert(v, a, f"{key}[{i}]", source) for i, (v, a) in enumerate(zip(value, args, strict=True)))
        item = args[0] if args else Any
        items = [_convert(v, item, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if (origin or tp) is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        vt = args[1] if args else Any
        return {str(k): _convert(v, vt, f"{key}.{k}", source) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} = {value!r} must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {key} = {value!r} must be an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {key} = {value!r} must be a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {key} = {value!r} must be a string")
        return value
    if not isinstance(value, tp):
        raise ConfigError(f"{source}: {key} = {value!r} must be a {_type_name(tp)}")
    return value


def _build(cls: type[T], data: Any, prefix: str, source: str) -> T:
    where = prefix or "the top level"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {where} must be a mapping of keys to values, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            full = f"{prefix}.{key}" if prefix else str(key)
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{source}: unknown key {full!r}{hint}; allowed under {where}: {', '.join(fields)}"
            )
    values = {}
    for name, field in fields.items():
        full = f"{prefix}.{name}" if prefix else name
        if name in data:
            values[name] = _convert(data[name], hints[name], full, source)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{source}: required key {full!r} is missing")
    try:
        return cls(**values)
    except ConfigError as err:  # a section's own check (__post_init__) names the key, not the file
        raise ConfigError(f"{source}: {err}") from None


def from_dict(cls: type[T], data: dict, source: str = "<config>") -> T:
    """Validate a plain dict against the dataclass ``cls``."""
    return _build(cls, data, "", source)


def load_config(path: str | os.PathLike, cls: type[T], overrides: list[str] | None = None) -> T:
    """Read a YAML experiment file, apply ``--set`` overrides and validate it against ``cls``."""
    import yaml

    file = resolve_config(path)
    try:
        data = safe_load_yaml(file.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{file} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of keys to values")
    overrides = env_overrides() + list(overrides or [])
    try:
        return from_dict(cls, apply_overrides(data, overrides), str(file))
    except ConfigError as err:
        blamed = _blame_override(cls, data, overrides, str(file), str(err))
        if blamed is None:
            raise
        raise ConfigError(blamed) from None


# Where ``facetrust train NAME`` looks for NAME when it is not a file: the repository's configs/
# folder (``make install`` installs facetrust in editable mode), or the folder $FACETRUST_CONFIGS names.
CONFIGS_ENV = "FACETRUST_CONFIGS"
OVERRIDES_ENV = "FACETRUST_SET"


def config_dirs() -> list[Path]:
    """Folders searched for a config given by name (e.g. ``demo/flip_it_tiny``)."""
    dirs = [Path(p) for p in os.environ.get(CONFIGS_ENV, "").split(os.pathsep) if p]
    repo = Path(__file__).resolve().parents[2] / "configs"
    return dirs + ([repo] if repo.is_dir() else [])


def resolve_config(path: str | os.PathLike) -> Path:
    """``path`` if it is a file, else ``NAME`` or ``NAME.yaml`` under ``config_dirs()``; ConfigError if none."""
    file = Path(path)
    if file.is_file():
        return file
    if not file.is_absolute():
        for folder in config_dirs():
            for candidate in (folder / file, folder / f"{file}.yaml"):
                if candidate.is_file():
                    return candidate
    searched = ", ".join(str(d) for d in config_dirs()) or f"none (set ${CONFIGS_ENV})"
    raise ConfigError(f"config file {file} does not exist (config names are also looked up in: {searched})")


def env_overrides() -> list[str]:
    """``$FACETRUST_SET``: ``;``-separated KEY=VALUE overrides applied before the command's ``--set``
    (e.g. ``train.iterations=5;protocol.targets=cctv`` to make every run tiny)."""
    return [item.strip() for item in os.environ.get(OVERRIDES_ENV, "").split(";") if item.strip()]


def _blame_override(cls: type, data: dict, overrides: list[str], source: str, message: str) -> str | None:
    """The message re-worded to name the ``--set`` that caused it, or None if the file alone has it."""

    def error(n: int) -> str | None:
        try:
            from_dict(cls, apply_overrides(data, overrides[:n]), source)
        except ConfigError as err:
            return str(err)
        return None

    previous = error(0)
    for n in range(1, len(overrides) + 1):
        current = error(n)
        if current == message and previous != message:
            text = message.removeprefix(f"{source}: ")
            return f"--set {overrides[n - 1]}: {text} (config {source})"
        previous = current
    return None


def to_dict(config: Any) -> dict:
    """A dataclass config as plain dicts and lists (tuples become lists), ready for YAML or JSON."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(config)


def dump_config(config: Any, run_dir: str | os.PathLike, name: str = "config.yaml") -> Path:
    """Write the resolved config into the run folder and return the file's path."""
    import yaml

    folder = Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / name
    out.write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
    return out
