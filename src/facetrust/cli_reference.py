"""The README's CLI reference, generated from the argparse definitions.

``python -m facetrust.cli_reference`` prints the Markdown table (every command, its arguments and
every option); ``python -m facetrust.cli_reference --write README.md`` replaces the block between the
``<!-- cli-reference:start -->`` and ``<!-- cli-reference:end -->`` markers. tests/test_cli_reference.py
fails when the README's block differs from what the parser says.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

START, END = "<!-- cli-reference:start -->", "<!-- cli-reference:end -->"
SKIPPED = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("facetrust",),
             help_text: str = "") -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """(command path, parser, one-line help) of every command that runs something (leaves first level)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if len(path) > 1 and (not subs or any(a.option_strings for a in parser._actions if not isinstance(a, SKIPPED))):
        yield path, parser, help_text
    for action in subs:
        helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
        for name, sub in action.choices.items():
            yield from commands(sub, path + (name,), helps.get(name, ""))


def _metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        return action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
    if action.choices is not None:
        return "|".join(map(str, action.choices))
    return action.dest.upper()


def _option(action: argparse.Action) -> str:
    flag = max(action.option_strings, key=len)
    return flag if action.nargs == 0 else f"{flag} {_metavar(action)}"


def _positional(action: argparse.Action) -> str:
    name = _metavar(action)
    return f"[{name}...]" if action.nargs == "*" else f"{name}..." if action.nargs == "+" else \
        f"[{name}]" if action.nargs == "?" else name


def markdown(parser: argparse.ArgumentParser | None = None) -> str:
    """The reference table: one row per command, its positional arguments and all its options."""
    if parser is None:
        from facetrust.cli import build_parser

        parser = build_parser()
    rows = ["| command | options | what it does |", "| --- | --- | --- |"]
    for path, sub, help_text in commands(parser):
        actions = [a for a in sub._actions if not isinstance(a, SKIPPED)]
        positional = " ".join(_positional(a) for a in actions if not a.option_strings)
        options = ", ".join(f"`{_option(a)}`" for a in actions if a.option_strings)
        command = " ".join(path) + (f" {positional}" if positional else "")
        what = help_text.replace("|", "\\|")
        rows.append(f"| `{command.replace('|', chr(92) + '|')}` | {options.replace('|', chr(92) + '|')} | {what} |")
    return "\n".join(rows) + "\n"


def readme_block(text: str) -> str:
    """The README's generated block (between the markers, without them)."""
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip("\n") + "\n"


def write(readme: Path) -> None:
    text = readme.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    readme.write_text(text[:start] + "\n" + markdown() + text[end:])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write(Path(sys.argv[2] if len(sys.argv) > 2 else "README.md"))
    else:
        sys.stdout.write(markdown())
