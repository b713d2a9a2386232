import json
import re

import numpy as np
import pytest

from facetrust.demo import pipeline
from facetrust.demo.html import Section, render


def _png(tmp_path):
    import cv2

    path = tmp_path / "x.png"
    cv2.imwrite(str(path), np.zeros((4, 4, 3), np.uint8))
    return path


def test_render_is_self_contained_and_escaped(tmp_path):
    section = Section("s1", "One <b>")
    section.text("a < b & c").table([{"k": "<v>", "x": 0.123456}]).image(_png(tmp_path), "cap")
    page = render("T", "sub", [section])
    assert "a &lt; b &amp; c" in page and "&lt;v&gt;" in page and "0.1235" in page
    assert "data:image/png;base64," in page and 'src="http' not in page
    assert "data-check" in page  # the page checks itself when a browser loads it


def test_render_refuses_empty_sections_and_non_png(tmp_path):
    with pytest.raises(ValueError, match=r"without content: \['empty'\]"):
        render("T", "sub", [Section("empty", "Empty")])
    with pytest.raises(ValueError, match="empty table"):
        Section("s", "S").table([])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"GIF89a")
    with pytest.raises(ValueError, match="not a PNG"):
        Section("s", "S").image(bad, "bad")


def test_steps_resume_and_force(tmp_path, monkeypatch):
    calls = []

    def make(name):
        def step(ctx):
            calls.append(name)
            return {"value": len(calls), "previous": sorted(ctx.results)}

        return step

    monkeypatch.setattr(pipeline, "STEPS", [(n, n, make(n)) for n in ("a", "b", "c")])
    monkeypatch.setattr("facetrust.demo.report.build_report", lambda results, timings, settings, path: path)
    monkeypatch.setattr("facetrust.demo.report.terminal_summary", lambda results: "summary")
    settings = pipeline.DemoSettings(out=tmp_path)
    logs = []
    first = pipeline.run_demo(settings, log=logs.append)
    assert calls == ["a", "b", "c"] and first["c"]["previous"] == ["a", "b"]
    second = pipeline.run_demo(settings, log=logs.append)
    assert calls == ["a", "b", "c"] and second == first  # everything reused
    assert any("reused" in line for line in logs)
    (tmp_path / "steps" / "b.json").unlink()  # a missing step is redone, and so is every later one
    pipeline.run_demo(settings, log=logs.append)
    assert calls == ["a", "b", "c", "b", "c"]
    pipeline.run_demo(pipeline.DemoSettings(out=tmp_path, force=True), log=logs.append)
    assert calls[-3:] == ["a", "b", "c"]
    record = json.loads((tmp_path / "steps" / "a.json").read_text())
    assert record["result"]["value"] == 6 and record["seconds"] >= 0


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    """The real pipeline (quick settings): every report section filled, terminal summary = report."""
    from facetrust.demo.report import summary_rows, terminal_summary

    logs = []
    results = pipeline.run_demo(pipeline.DemoSettings(out=tmp_path, quick=True), log=logs.append)
    page = (tmp_path / "report.html").read_text()
    for section in ("summary", "data", "evaluation", "curves", "export", "speed", "explain", "configs"):
        assert f'<section id="{section}">' in page
    assert len(re.findall(r"data:image/png;base64,", page)) >= 8  # grid, 2 x (ROC, DET, histograms), heatmaps
    summary = terminal_summary(results)
    assert summary in "\n".join(logs)
    for row in summary_rows(results):
        for value in row.values():
            assert f"<td>{value}</td>" in page.replace("&amp;", "&")
    evaluation = results["evaluate"]["teacher"]["result"]
    assert evaluation["strategy"] == "eer@val" and evaluation["honest"]
    agreement = results["export"]["student"]["int8"]["agreement_with_fp32"]["agreement"]
    assert 0.0 <= agreement <= 1.0
    from facetrust.demo.browser_check import find_chromium

    if not find_chromium():
        pytest.skip("no Chromium (apt-get install chromium): everything but the report's browser check passed")
    from facetrust.demo.browser_check import check_report

    assert check_report(tmp_path / "report.html").startswith("ok")
