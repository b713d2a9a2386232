"""``facetrust bench``'s records and tables from injected timings (no timing): speed-ups over the teacher
with their range over blocks (INT8 against the teacher's FP32 when it has no INT8), the stability table,
and no throughput table when only batch 1 was timed."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from facetrust.export.bench import BenchSettings, _speedups
from facetrust.export.bench_report import render_markdown
from facetrust.export.timing import Timing, latency_record

MACHINE = {"cpu": "test CPU", "cores": 2, "threads": 2, "torch": "t", "onnxruntime": "o", "python": "3",
           "load_avg_1_5_15": [0.5, 0.4, 0.3], "load_avg_after": [0.6, 0.5, 0.4], "date_utc": "2026-12-02 00:00:00"}


def _record(model: str, backend: str, blocks_ms: list[list[float]]) -> dict:
    timing = Timing([[ms / 1000 for ms in block] for block in blocks_ms])
    return {"model": model, "backend": backend, "batch": 1, **latency_record(timing, 1), "params": 1_000_000,
            "gflops": 1.0, "speedup_vs_teacher": None}


@pytest.fixture
def result():
    records = [_record("teacher", "ort-fp32", [[260.0, 262.0], [258.0, 259.0], [270.0, 268.0]]),
               _record("student", "ort-fp32", [[2.9, 2.8, 3.0], [2.9, 3.0, 2.9], [3.1, 3.0, 3.2]]),
               _record("student", "ort-int8", [[3.2, 3.3], [3.3, 3.2], [3.4, 3.5]])]
    records[1]["onnx_mb"] = 7.8
    records[2].update(quantization="static", int8_front="fp32", int8_agreement=1.0, agreement_samples=16, onnx_mb=3.8)
    _speedups(records)
    settings = {**asdict(BenchSettings.quick_settings(rounds_bn=0)), "image_size": 224}
    return {"machine": MACHINE, "settings": settings, "records": records}


def test_speedups_and_their_block_range(result):
    teacher, student, int8 = result["records"]
    assert student["speedup_vs_teacher"] == round(teacher["latency_ms_p50"] / student["latency_ms_p50"], 2)
    per_block = [t / s for t, s in zip(teacher["block_p50_ms"], student["block_p50_ms"], strict=True)]
    assert student["speedup_block_range"] == [round(min(per_block), 2), round(max(per_block), 2)]
    assert student["block_p50_ms"] == [2.9, 2.9, 3.1] and teacher["block_p50_ms"] == [261.0, 258.5, 269.0]
    # The teacher has no INT8 here: the student's INT8 is compared with the teacher's FP32 ONNX.
    assert int8["speedup_vs_teacher"] == round(teacher["latency_ms_p50"] / int8["latency_ms_p50"], 2)
    assert teacher["speedup_vs_teacher"] == 1.0


def test_markdown_shows_spread_and_stability_and_no_empty_throughput(result):
    markdown = render_markdown(result)
    student = result["records"][1]
    low, high = student["speedup_block_range"]
    assert f"| student | ort-fp32 | 9 | 2.90, 2.90, 3.10 | {student['block_p50_spread']:.1%} | ×{low:g}–{high:g} |" in markdown
    assert "| teacher | ort-fp32 | 6 | 261.00, 258.50, 269.00 |" in markdown and "| — |" in markdown
    assert f"[{student['latency_ms_p10']:.2f}–{student['latency_ms_p90']:.2f}]" in markdown
    assert "Throughput at batch" not in markdown and "no throughput batch" in markdown
    assert "after 0.60, 0.50, 0.40" in markdown
