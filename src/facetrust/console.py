"""A terminal worth reading: known third-party noise silenced at its source, progress bars only on a
terminal, ``--quiet`` / ``--verbose`` for long commands, and a log file with everything.

Silenced by default (each narrowly, by its exact message or logger; real warnings stay):

* Lightning's "Tip: ... litlogger" advertisement (a ``rank_zero_info`` record);
* the ``LeafSpec`` deprecation warning torch raises inside Lightning's ``_pytree`` helper;
* ONNX Runtime's "Please consider to run pre-processing before quantization" (root logger);
* ONNX Runtime's C++ ``[W:onnxruntime ...]`` lines such as "Removing initializer" (default
  logger severity 3 = errors only).

Progress bars (tqdm, Lightning) are shown only when stderr is a terminal (``progress_enabled``).
``--verbose`` turns nothing off (and logs DEBUG); ``--quiet`` also hides progress bars and INFO
records. ``start_log(folder)`` copies everything written to stdout/stderr and every log record into
``folder/facetrust.log``.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

LOG_FILE = "facetrust.log"
NOISE = (  # substrings of known-harmless third-party messages
    "try installing [litlogger]",
    "Please consider to run pre-processing before quantization",
)
LIGHTNING_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                     "lightning_utilities.core.rank_zero", "lightning.pytorch", "lightning.fabric")

_state = {"level": "normal", "installed": False, "log": None}


class _NoiseFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            return True
        return not any(n in message for n in NOISE)


_FILTER = _NoiseFilter()


def add_output_flags(parser, run=None) -> None:
    """``--quiet`` and ``--verbose`` for a long command (train, distill, demo, export, bench); with
    ``run``, the command's function is set to apply them (``setup_output``) and then call ``run``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quiet", "-q", action="store_true",
                       help="only results and errors: no progress bars, no per-step lines")
    group.add_argument("--verbose", "-v", action="store_true",
                       help="everything, third-party notices and DEBUG logging included")
    if run is not None:
        def run_with_output(args):
            setup_output(args)
            return run(args)

        parser.set_defaults(func=run_with_output)


def setup_output(args=None, level: str | None = None) -> str:
    """Apply ``--quiet``/``--verbose`` (from ``args`` or ``level``: quiet, normal, verbose); returns the level."""
    if level is None:
        level = "quiet" if getattr(args, "quiet", False) else "verbose" if getattr(args, "verbose", False) else "normal"
    _state["level"] = level
    os.environ["FACETRUST_OUTPUT"] = level  # DDP ranks started by Lightning re-read it
    if level == "verbose":
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    elif level == "quiet":
        for name in ("lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if level != "verbose":
        silence_known_noise()
    if not progress_enabled():
        os.environ.setdefault("TQDM_DISABLE", "1")  # tqdm >= 4.66 reads its defaults from TQDM_* variables
    return level


def output_level() -> str:
    return os.environ.get("FACETRUST_OUTPUT", _state["level"])


def progress_enabled() -> bool:
    """Progress bars only on a terminal, and never with --quiet."""
    return output_level() != "quiet" and sys.stderr.isatty()


def silence_known_noise() -> None:
    """Install the narrow filters listed in the module docstring (idempotent)."""
    if _state["installed"] or output_level() == "verbose":
        return
    _state["installed"] = True
    logging.getLogger().addFilter(_FILTER)
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)
    warning_filters()
    if "onnxruntime" in sys.modules or _importable("onnxruntime"):
        import onnxruntime

        onnxruntime.set_default_logger_severity(3)


def warning_filters() -> None:
    """The known-harmless Python warnings, ignored by exact message (torch's LeafSpec deprecation,
    raised from Lightning's ``_pytree`` helper on every training step)."""
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                                category=category)
        warnings.filterwarnings("ignore", message=r"torch\.distributed\.nn\.functional\.all_gather is deprecated",
                                category=category)  # Lightning's all_gather under DDP


def _importable(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(name) is not None


class _Tee:
    """A text stream that writes to the original stream and to the log file."""

    def __init__(self, stream, log) -> None:
        self._stream, self._log = stream, log

    def write(self, text: str) -> int:
        self._log.write(text)
        self._log.flush()
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()
        self._log.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def start_log(folder: str | os.PathLike) -> Path:
    """Copy stdout, stderr and all log records (DEBUG up) into ``folder/facetrust.log`` (appending)."""
    path = Path(folder) / LOG_FILE
    if _state["log"] is not None and _state["log"][0] == path:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    log = open(path, "a", buffering=1)
    if _state["log"] is None:
        sys.stdout, sys.stderr = _Tee(sys.stdout, log), _Tee(sys.stderr, log)
    else:
        sys.stdout._log = sys.stderr._log = log  # type: ignore[attr-defined]
    handler = logging.StreamHandler(log)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
               for h in root.handlers):  # warnings still reach the terminal, as without a log file
        terminal = logging.StreamHandler(getattr(sys.stderr, "_stream", sys.stderr))
        terminal.setLevel(logging.WARNING)
        terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(terminal)
    root.addHandler(handler)
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)  # INFO records (open_clip, Lightning) go to the file only
    _state["log"] = (path, log, handler)
    return path
