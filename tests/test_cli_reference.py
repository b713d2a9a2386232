"""One consistent CLI: every command described, every option explained, the README's reference in step
with the argparse definitions, and ``facetrust models`` listing every family create_model() builds."""

from __future__ import annotations

import argparse

from facetrust.cli import build_parser, main


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("facetrust",)):
    """(command path, parser) for the top level and every (sub-)command."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, path + (name,))


def options(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
            continue
        yield action


def test_every_command_has_a_description_and_every_option_a_help():
    missing = []
    for path, parser in walk(build_parser()):
        if len(path) > 1 and not parser.description:
            missing.append(f"{' '.join(path)}: no description")
        for action in options(parser):
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{' '.join(path)} {action.option_strings or action.dest}: no help")
    assert not missing, "\n".join(missing)


def test_models_lists_every_family(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("flip_it", "resnet8", "mobileone_s0", "tf_mobilenetv3_small_minimal_100", "iresnet18",
                 "mobilefacenet", "silent_face_fusion", "clip-tiny", "clip-small", "any of timm's", "clip_visual:"):
        assert name in out, name
    assert main(["models", "*mobilenetv3_large*"]) == 0
    out = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in out]
    assert "tf_mobilenetv3_large_minimal_100" in names and "mobilenetv3_large_100" in names  # registered + timm
    assert all("mobilenetv3_large" in n for n in names)
    assert main(["models", "ViT-B-16"]) == 0
    assert "CLIP for flip_*" in capsys.readouterr().out
    assert main(["models", "nothing-like-this*"]) == 1
    assert "no model matches 'nothing-like-this*'" in capsys.readouterr().err


def test_readme_reference_is_the_parsers():
    from pathlib import Path

    from facetrust.cli_reference import markdown, readme_block

    readme = Path(__file__).resolve().parents[1] / "README.md"
    assert readme_block(readme.read_text()) == markdown(), (
        "README.md's CLI reference differs from the argparse definitions: run "
        "`python -m facetrust.cli_reference --write README.md`")


def test_reference_lists_every_command_and_option():
    from facetrust.cli_reference import commands, markdown

    parser = build_parser()
    table = markdown(parser)
    for path, sub, _ in commands(parser):
        row = next(line for line in table.splitlines() if line.startswith(f"| `{' '.join(path)}"))
        for action in options(sub):
            for flag in action.option_strings:
                if flag.startswith("--"):
                    assert f"`{flag}" in row, (path, flag)
    top = {name for action in parser._actions if isinstance(action, argparse._SubParsersAction)
           for name in action.choices}
    assert top <= {path[1] for path, _, _ in commands(parser)}
