"""Crash-safe writes: a reader sees the old file (or folder), or the new one, never half of one.

Files are written to a temporary sibling in the same folder (same filesystem), flushed and
``fsync``-ed, then moved over the target with ``os.replace`` (atomic on POSIX); the folder entry is
``fsync``-ed too. A process killed mid-write leaves at most a ``.NAME.*.tmp*`` file behind, which no
loader reads. Folders (checkpoints) are built in a temporary sibling folder and swapped in by
rename: the old folder is moved aside, the new one renamed into place, the old one removed; killed
between the two renames, the target is absent and the old state is still on disk beside it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to (by any library); on success it is fsync-ed
    and moved over ``path``; on an exception it is removed and ``path`` is left as it was.

    The temporary name keeps the suffix (``.NAME.XXXX.tmp.onnx``) for writers that look at it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode(encoding))


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, keep_other_files: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside ``path`` to fill; on success it replaces ``path`` as a whole.

    With ``keep_other_files``, files of an existing ``path`` that the new folder does not contain
    (say, notes a user put there) are carried over (hard-linked, else copied) before the swap."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target} exists and is not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if keep_other_files and target.is_dir():
            for old in target.iterdir():
                new = tmp / old.name
                if new.exists() or not old.is_file():
                    continue
                try:
                    os.link(old, new)
                except OSError:
                    shutil.copy2(old, new)
        for file in tmp.iterdir():
            if file.is_file():
                _fsync_file(file)
        _fsync_dir(tmp)
        old_aside = None
        if target.exists():
            old_aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, old_aside / target.name)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
        if old_aside is not None:
            shutil.rmtree(old_aside, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
