"""The demo's deepfake step (quick settings): runs, reports per-family metrics, renders its section."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_deepfake_step_quick(tmp_path) -> None:
    from facetrust.demo import pipeline
    from facetrust.demo.deepfake_step import FAMILIES, deepfake_section, step_deepfake
    from facetrust.demo.html import render

    ctx = pipeline.Context(pipeline.DemoSettings(out=tmp_path, quick=True, device="cpu"))
    result = step_deepfake(ctx)
    for role in ("teacher", "student"):
        for family in FAMILIES:
            metrics = result["metrics"][role][family]["frame"]
            assert 0.0 <= metrics["auc"] <= 1.0 and {"accuracy", "f1", "ap", "eer"} <= set(metrics)
    page = render("T", "sub", [deepfake_section(result)])
    assert "Deepfake detection" in page and page.count("data:image/png;base64,") == 2
