"""A terminal worth reading: known third-party noise silenced at its source, progress bars only on a
terminal, ``--quiet`` / ``--verbose`` for long commands, and a log file with everything.

Silenced by default (each narrowly, by its exact message or logger; real warnings stay):

* Lightning's "Tip: ... litlogger" advertisement (a ``rank_zero_info`` record);
* the ``LeafSpec`` deprecation warning torch raises inside Lightning's ``_pytree`` helper;
* ONNX Runtime's "Please consider to run pre-processing before quantization" (root logger);
* ONNX Runtime's C++ ``[W:onnxruntime ...]`` lines such as "Removing initializer" (default
  logger severity 3 = errors only);
* Lightning's "Found N module(s) in eval mode at the start of training" (distillation keeps its frozen
  teacher in eval mode on purpose).

INFO records go to the log file, not the terminal: the root logger gets one terminal handler at
WARNING (``quiet_terminal``), installed before any library logs, so open_clip's and ONNX Runtime's
``logging.info`` calls ("Parsing model identifier...", "Created a copy of bias input...") do not make
``logging`` install its own stderr handler; Lightning's INFO lines ("GPU available: False, used:
False") propagate to it instead of going through the stderr handler Lightning adds for itself when the
root logger has none. Handlers that a library installed anyway (``logging.basicConfig``) are raised
to WARNING as well.

Progress bars (tqdm, Lightning) are shown only when stderr is a terminal (``progress_enabled``).
``--verbose`` turns nothing off (and logs DEBUG); ``--quiet`` also hides progress bars and INFO
records. ``start_log(folder)`` copies everything written to stdout/stderr and every log record into
``folder/facetrust.log``; ``start_log(folder, main=True)`` (the demo) keeps that file for the whole
process while the runs inside it open and close their own.
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

_state = {"level": "normal", "installed": False, "logs": {}}  # logs: "main" / "run" -> (path, file, handler)


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
        quiet_terminal()
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
    if output_level() == "verbose":
        return
    quiet_terminal()  # again: a library imported since may have added a handler
    if _state["installed"]:
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
    # Lightning warns when any module is in eval mode as fit starts. Distillation keeps its frozen teacher
    # in eval mode on purpose (DistillModule.train: no dropout, no batch-norm updates), so every
    # distillation run would print it; the message names no module to tell that case from another.
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training",
                            category=UserWarning)  # Lightning's PossibleUserWarning


def _importable(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(name) is not None


def _is_terminal(handler: logging.Handler) -> bool:
    """A plain StreamHandler that is not one of the log files: one that basicConfig, Lightning or we
    installed for stderr/stdout (subclasses, such as files and pytest's capture, are not terminals)."""
    return type(handler) is logging.StreamHandler and not any(
        handler is h for _, _, h in _state["logs"].values())


def quiet_terminal() -> None:
    """INFO records to the log file only (no-op with --verbose): the root logger's terminal handlers pass
    WARNING and up (one is added when there is none), and Lightning's loggers drop the stderr handlers
    Lightning gives itself and propagate to the root."""
    if output_level() == "verbose":
        return
    root = logging.getLogger()
    terminals = [h for h in root.handlers if _is_terminal(h)]
    if not terminals:
        terminal = logging.StreamHandler(getattr(sys.stderr, "_stream", sys.stderr))
        terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(terminal)
        terminals = [terminal]
    for handler in terminals:
        if handler.level < logging.WARNING:
            handler.setLevel(logging.WARNING)
    # "lightning" (the unified package) always gives itself an INFO stderr handler; its subpackages do
    # when imported before the root logger had a handler, and then stop propagating.
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if _is_terminal(h)]:
            logger.removeHandler(handler)
        logger.propagate = True


class _Tee:
    """A text stream that writes to the original stream and to every open log file."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        for _, log, _ in list(_state["logs"].values()):
            log.write(text)
            log.flush()
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()
        for _, log, _ in list(_state["logs"].values()):
            log.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def start_log(folder: str | os.PathLike, main: bool = False) -> Path:
    """Copy stdout, stderr and all log records (DEBUG up) into ``folder/facetrust.log`` (appending).

    A run's log (``main=False``) replaces the previous run's; the ``main`` one (the demo's, for the
    whole process) stays open beside it."""
    path = Path(folder) / LOG_FILE
    role = "main" if main else "run"
    if any(entry[0] == path for entry in _state["logs"].values()):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    log = open(path, "a", buffering=1)
    handler = logging.StreamHandler(log)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous = _state["logs"].get(role)
    _state["logs"][role] = (path, log, handler)
    root = logging.getLogger()
    if previous is not None:
        root.removeHandler(previous[2])
        previous[1].close()
    if not isinstance(sys.stdout, _Tee):  # (again, if someone swapped the streams since)
        sys.stdout = _Tee(sys.stdout)
    if not isinstance(sys.stderr, _Tee):
        sys.stderr = _Tee(sys.stderr)
    quiet_terminal()  # warnings still reach the terminal, INFO only the file (no-op with --verbose)
    root.addHandler(handler)
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)  # INFO records (open_clip, Lightning) go to the file only
    return path
