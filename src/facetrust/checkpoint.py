"""Checkpoints as folders: ``model.safetensors`` + ``config.json``; nothing is ever unpickled.

``config.json`` holds the architecture (factory name and keyword arguments), the preprocessing,
class names, the calibrated threshold and how it was chosen, free metadata (data, protocol, seed,
metrics, versions) and the size and SHA-256 of the weights file, so a truncated or corrupted file
is caught before it is read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from facetrust.atomic import atomic_folder
from facetrust.errors import CheckpointError

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
FORMAT = "facetrust-checkpoint"
FORMAT_VERSION = 1
PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".tar"}
DEFAULT_CLASS_NAMES = ("attack", "bona fide")


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    import torch

    from facetrust import __version__

    return {"facetrust": __version__, "torch": torch.__version__}


def save(
    model,
    path: str | os.PathLike,
    *,
    class_names: tuple[str, ...] | list[str] | None = None,
    threshold: float | None = None,
    threshold_strategy: str | None = None,
    metadata: dict[str, Any] | None = None,
    crop: dict[str, Any] | None = None,
    task: str | None = None,
) -> Path:
    """Write ``model`` (built by ``create_model``) as a checkpoint folder and return its path.

    Anything JSON-serialisable in ``model.checkpoint_extra`` (for example FLIP's prompts) is
    stored too. Threshold, class names and metadata default to the model's own attributes.
    ``crop`` (default ``model.checkpoint_crop``) is how face crops were made for this model
    (``facetrust.faces.crop``); without one, predictors apply the documented default crop.
    ``task`` (default ``model.task``, else ``fas``) is recorded as ``config["task"]``: the trust
    question the model answers (``fas``, ``deepfake``, ...), which names its decisions.
    """
    from safetensors.torch import save_model

    arch = getattr(model, "architecture", None)
    if arch is None:
        raise CheckpointError(
            "this model was not built by facetrust.create_model, so its architecture is unknown; "
            "build it with create_model(name, **kwargs) before saving"
        )
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"{folder} exists and is not a folder; a checkpoint is a folder")
    crop = crop if crop is not None else getattr(model, "checkpoint_crop", None)
    if crop is not None:
        from facetrust.faces.crop import validate_crop

        crop = validate_crop(crop, "checkpoint crop")
    kwargs = {k: v for k, v in arch["kwargs"].items() if k != "pretrained"}
    with atomic_folder(folder) as building:  # readers see the old checkpoint or the new one
        save_model(model, str(building / WEIGHTS))
        weights = building / WEIGHTS
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "task": task or getattr(model, "task", None) or "fas",
            "architecture": {"name": arch["name"], "kwargs": kwargs},
            "preprocess": {k: list(v) if isinstance(v, tuple) else v for k, v in model.preprocess.items()},
            **({"crop": crop} if crop is not None else {}),
            "class_names": list(class_names or getattr(model, "class_names", DEFAULT_CLASS_NAMES)),
            "threshold": threshold if threshold is not None else getattr(model, "threshold", None),
            "threshold_strategy": threshold_strategy or getattr(model, "threshold_strategy", None),
            "extra": getattr(model, "checkpoint_extra", {}),
            "metadata": {**getattr(model, "metadata", {}), **(metadata or {}), "versions": _versions()},
            "files": {WEIGHTS: {"bytes": weights.stat().st_size, "sha256": file_sha256(weights)}},
        }
        try:
            text = json.dumps(config, indent=2, sort_keys=False, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"checkpoint config for {folder} is not JSON-serialisable: {err}") from err
        (building / CONFIG).write_text(text + "\n")
    return folder


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate ``config.json`` of a checkpoint folder (weights are checked separately)."""
    folder = Path(path)
    if not folder.exists():
        raise CheckpointError(f"checkpoint {folder} does not exist")
    if folder.is_file():
        if folder.suffix.lower() in PICKLE_SUFFIXES:
            raise CheckpointError(
                f"{folder} looks like a pickle file; facetrust never unpickles files. Convert it to a "
                "checkpoint folder (model.safetensors + config.json) in a trusted environment"
            )
        raise CheckpointError(f"{folder} is a file; a checkpoint is a folder with {WEIGHTS} and {CONFIG}")
    config_path = folder / CONFIG
    if not config_path.is_file():
        raise CheckpointError(f"{config_path} is missing; is {folder} a facetrust checkpoint folder?")
    try:
        config = json.loads(config_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{config_path} is not valid JSON ({err}); the file is corrupted") from err
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{config_path} is not a facetrust checkpoint config (no format: {FORMAT})")
    if not isinstance(config.get("format_version", 0), int) or isinstance(config.get("format_version"), bool):
        raise CheckpointError(f"{config_path}: format_version must be an integer, not {config.get('format_version')!r}")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{config_path} has format_version {config['format_version']}, newer than this facetrust "
            f"reads ({FORMAT_VERSION}); upgrade facetrust"
        )
    for key in ("architecture", "preprocess", "class_names", "files"):
        if key not in config:
            raise CheckpointError(f"{config_path} lacks the key {key!r}; the file is incomplete")
    _check_types(config, config_path)
    return config


def _check_types(config: dict[str, Any], config_path: Path) -> None:
    """Refuse a config whose values have the wrong types (a damaged or hand-edited file) by name."""
    def bad(key: str, expected: str) -> CheckpointError:
        return CheckpointError(f"{config_path}: {key} must be {expected}, not {config_value(key)!r}; "
                               "the file is corrupted or was edited by hand")

    def config_value(key: str) -> Any:
        node: Any = config
        for part in key.split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    arch = config["architecture"]
    if not isinstance(arch, dict) or not isinstance(arch.get("name"), str):
        raise bad("architecture/name", "a model name (string)")
    if not isinstance(arch.get("kwargs", {}), dict):
        raise bad("architecture/kwargs", "an object of keyword arguments")
    pp = config["preprocess"]
    if not isinstance(pp, dict):
        raise bad("preprocess", "an object")
    size = pp.get("input_size")
    if not (isinstance(size, list) and len(size) == 3 and all(isinstance(v, int) and not isinstance(v, bool)
                                                              and v > 0 for v in size)):
        raise bad("preprocess/input_size", "[channels, height, width] (positive integers)")
    for key in ("mean", "std"):
        if key in pp and not (isinstance(pp[key], list) and pp[key] and all(number(v) for v in pp[key])):
            raise bad(f"preprocess/{key}", "a list of numbers")
    names = config["class_names"]
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise bad("class_names", "a list of class names")
    files = config["files"]
    if not isinstance(files, dict) or not all(
            isinstance(r, dict) and isinstance(r.get("bytes"), int) and isinstance(r.get("sha256"), str)
            for r in files.values()):
        raise bad("files", "an object of {file: {bytes, sha256}}")
    if config.get("threshold") is not None and not number(config["threshold"]):
        raise bad("threshold", "a number or null")
    for key in ("task", "threshold_strategy"):
        if config.get(key) is not None and not isinstance(config[key], str):
            raise bad(key, "a string")
    for key in ("extra", "metadata", "crop"):
        if config.get(key) is not None and not isinstance(config[key], dict):
            raise bad(key, "an object")


def verify_file(folder: Path, name: str, record: dict[str, Any]) -> Path:
    """Check that ``folder/name`` exists with the recorded size and SHA-256."""
    file = folder / name
    if not file.is_file():
        raise CheckpointError(f"{file} is missing; the checkpoint is incomplete")
    size = file.stat().st_size
    if size != record.get("bytes"):
        raise CheckpointError(
            f"{file} has {size} bytes but {CONFIG} records {record.get('bytes')}: the file is "
            "truncated or was replaced; copy the checkpoint again"
        )
    if file_sha256(file) != record.get("sha256"):
        raise CheckpointError(f"{file} does not match its SHA-256 in {CONFIG}: the file is corrupted")
    return file


def load_model(path: str | os.PathLike, *, device: str = "cpu"):
    """Rebuild the model of a checkpoint folder, in eval mode, with its stored attributes."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model as load_weights

    from facetrust.device import resolve_device
    from facetrust.models import create_model

    device = resolve_device(device)
    folder = Path(path)
    config = read_config(folder)
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(
            f"{folder} contains pickle files {pickles}; facetrust never unpickles files. Remove them "
            "or convert them to safetensors in a trusted environment"
        )
    if WEIGHTS not in config["files"]:
        raise CheckpointError(f"{folder / CONFIG} records no {WEIGHTS}")
    weights = verify_file(folder, WEIGHTS, config["files"][WEIGHTS])
    arch = config["architecture"]
    kwargs = dict(arch.get("kwargs", {}))
    try:
        model = create_model(arch["name"], **kwargs)
    except KeyError as err:
        raise CheckpointError(f"{folder}: {err.args[0]}") from err
    except (TypeError, ValueError) as err:  # kwargs that do not fit the architecture (a damaged config)
        raise CheckpointError(f"{folder}: cannot build {arch['name']} from the recorded kwargs ({err})") from err
    try:
        missing, unexpected = load_weights(model, str(weights), strict=True, device=device)
    except (SafetensorError, RuntimeError, OSError) as err:
        raise CheckpointError(f"{weights} could not be read as weights for {arch['name']}: {err}") from err
    model.to(device).eval()
    model.class_names = tuple(config["class_names"])
    model.task = config.get("task", "fas")  # checkpoints from before tasks existed are anti-spoofing
    model.threshold = config.get("threshold")
    model.threshold_strategy = config.get("threshold_strategy")
    model.metadata = config.get("metadata", {})
    model.checkpoint_extra = config.get("extra", {})
    model.checkpoint_crop = config.get("crop")
    model.checkpoint_config = config
    return model
