"""The ``facetrust`` command line: thin, parses arguments and calls the library.

Each sub-command lives in ``facetrust/commands/<name>.py`` with ``register(subparsers)``; those
modules import only the standard library at top level, so ``facetrust --help`` answers at once and
heavy imports (torch, open_clip) happen inside the command that needs them.
"""

from __future__ import annotations

import argparse
import importlib
import keyword
import os
import sys

# Order as shown in --help.
COMMANDS = (
    "demo", "data", "train", "distill", "eval", "predict", "export", "bench", "explain", "serve",
    "enroll", "identify", "verify", "verify-claims", "models", "import", "version", "doctor",
)

# OSErrors about a path given on the command line (FACETRUST_DEBUG=1 shows their traceback)
USER_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, FileExistsError)


def build_parser() -> argparse.ArgumentParser:
    from facetrust import __version__

    parser = argparse.ArgumentParser(
        prog="facetrust",
        description="Decide whether a face can be trusted: live or spoof (FLIP on CLIP), distilled "
        "into fast students, exported, benchmarked and explained.",
    )
    parser.add_argument("--version", action="version", version=f"facetrust {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"facetrust.commands.{name}_" if keyword.iskeyword(name) else
                                         f"facetrust.commands.{name.replace('-', '_')}")
        module.register(subparsers)
    _describe(parser)
    return parser


def _describe(parser: argparse.ArgumentParser) -> None:
    """A (sub-)command without its own description gets its one-line help as the description."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if sub.description is None and helps.get(name):
                    sub.description = helps[name][0].upper() + helps[name][1:] + "."
                _describe(sub)


def main(argv: list[str] | None = None) -> int:
    from facetrust.errors import FacetrustError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # no command is a usage error, as argparse treats a missing required argument
        parser.print_help(sys.stderr)
        print("\nfacetrust: error: give a COMMAND, e.g. 'facetrust demo' or 'facetrust COMMAND --help'",
              file=sys.stderr)
        return 2
    try:
        if getattr(args, "max_pixels", None) is not None:  # --max-pixels: the limit for this process
            from facetrust.data.io import set_max_pixels

            set_max_pixels(args.max_pixels)
        return int(args.func(args) or 0)
    except FacetrustError as err:
        print(f"facetrust {args.command}: error: {err}", file=sys.stderr)
        return 2
    except USER_OS_ERRORS as err:
        # a path the user gave that is missing, a folder, or not readable/writable: a message, not a
        # traceback. Any other exception is a bug and keeps its traceback.
        if err.filename is None or os.environ.get("FACETRUST_DEBUG"):
            raise
        print(f"facetrust {args.command}: error: {err.filename}: {err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
