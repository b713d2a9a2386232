"""The export package is a straight line: no import cycle among ``facetrust.export.*`` modules (imports
inside functions included), every module importable, old public names still importable, and files
under the style guide's size."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import facetrust.export

PACKAGE = Path(facetrust.export.__file__).parent
MODULES = sorted(f"facetrust.export.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def _export_imports(path: Path) -> set[str]:
    """``facetrust.export.X`` modules imported anywhere in a file (top level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("facetrust.export.")}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("facetrust.export."):
                found.add(node.module)
            elif node.module == "facetrust.export":  # from facetrust.export import quantize as q
                found |= {f"facetrust.export.{a.name}" for a in node.names if f"facetrust.export.{a.name}" in MODULES}
    return {name for name in found if name in MODULES}


def _graph() -> dict[str, set[str]]:
    return {name: _export_imports(PACKAGE / f"{name.rsplit('.', 1)[1]}.py") for name in MODULES}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                return stack[stack.index(child):] + [child]
            if child not in state and (found := visit(child)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_among_export_modules():
    graph = _graph()
    assert "facetrust.export.precision" in graph and graph["facetrust.export.quantize"]
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"
    # The straight line: the low-level modules never reach up to the orchestrators.
    for low in ("runtime", "graph", "agreement", "timing", "artifacts", "quantize"):
        assert not graph[f"facetrust.export.{low}"] & {"facetrust.export.onnx", "facetrust.export.bench",
                                                       "facetrust.export.precision"}, low


@pytest.mark.parametrize("name", MODULES)
def test_every_export_module_imports_and_is_short(name):
    importlib.import_module(name)
    lines = (PACKAGE / f"{name.rsplit('.', 1)[1]}.py").read_text().count("\n")
    assert lines <= 420, f"{name}: {lines} lines"


def test_old_public_names_still_importable():
    from facetrust.export import bench, onnx, quantize

    for module, names in (
        (quantize, ["quantize_int8", "choose_mode", "decision_agreement", "head_nodes", "op_counts", "simplify_for_int8",
                    "pixel_noise", "narrow_front", "prefix_cuts", "expected_agreement", "log_odds", "input_convs",
                    "onnx_decision_logits", "onnx_scores", "time_models"]),
        (onnx, ["export_checkpoint", "export_onnx", "onnx_parity", "load_sample_images", "write_export_config",
                "ExportError", "torch_logits"]),
        (bench, ["Runner", "count_gflops", "machine_info", "ort_call", "time_round_robin", "torch_call",
                 "run_benchmark", "time_models", "time_models_markdown", "BenchSettings", "render_markdown"]),
    ):
        missing = [n for n in names if not hasattr(module, n)]
        assert not missing, f"{module.__name__} lost {missing}"
    for name in facetrust.export.__all__:
        assert getattr(facetrust.export, name) is not None
