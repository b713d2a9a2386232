"""Tasks wire models, losses and data into Lightning modules.

``TASKS`` is the dispatch point of ``facetrust train`` / ``distill``: the YAML's top-level ``task:``
key (default ``fas``) names a module here that provides ``train_command(config_path, overrides, out)
-> exit status`` (and ``distill_command`` with the same arguments where the task has one). ``fas`` and ``deepfake`` are binary trust tasks sharing
one engine (``facetrust.tasks.binary``); other tasks add their own entry (one line each).
"""

from __future__ import annotations

import importlib
from types import ModuleType

TASKS: dict[str, str] = {
    "fas": "facetrust.tasks.binary",
    "deepfake": "facetrust.tasks.binary",
    "clip": "facetrust.tasks.clip",
    "face": "facetrust.tasks.face",
}


def task_module(name: str) -> ModuleType:
    """The module implementing a task; a ConfigError lists the known tasks."""
    from facetrust.errors import ConfigError

    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; choose one of {', '.join(sorted(TASKS))}")
    return importlib.import_module(TASKS[name])


def read_task(path, overrides: list[str] | None = None) -> str:
    """The ``task`` key of an experiment YAML (after ``--set task=...``), ``fas`` when absent."""
    from pathlib import Path

    from facetrust.config import apply_overrides, env_overrides, resolve_config, safe_load_yaml
    from facetrust.errors import ConfigError

    file = Path(resolve_config(path))  # a file, or a name such as demo/flip_it_tiny
    try:
        data = safe_load_yaml(file.read_text()) or {}
    except Exception as err:  # noqa: BLE001 - load_config reports YAML errors with details
        raise ConfigError(f"{file} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of keys to values")
    task = apply_overrides(data, env_overrides() + list(overrides or [])).get("task", "fas")
    if not isinstance(task, str):
        raise ConfigError(f"{file}: task = {task!r} must be a string, e.g. fas or deepfake")
    return task
