"""facetrust bench --pipeline: 640x480 frames through decode -> detect -> crop -> classify -> decision (smoke, tiny)."""

import json

import numpy as np
import pytest

from facetrust.cli import main
from facetrust.data.io import decode_image
from facetrust.export.pipeline_bench import make_frames


def test_frames_are_640x480_jpegs_with_the_photo():
    frames, source = make_frames(n=3)
    images = [decode_image(f, "frame") for f in frames]
    assert all(image.shape == (480, 640, 3) for image in images) and frames[0][:2] == b"\xff\xd8"
    assert not np.array_equal(images[0], images[2])  # the photo moves between frames


def test_bench_pipeline_smoke(tmp_path, capsys):
    out = tmp_path / "pipeline.json"
    code = main(["bench", "--pipeline", "--detectors", "cascade,nosuchdetector", "--pipeline-threads", "1",
                 "--frames", "2", "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    (record,) = result["records"]
    assert record["detector"] == "cascade" and record["threads"] == 1 and record["frames"] == 2
    stages = record["decode_ms"] + record["detect_ms"] + record["crop_classify_ms"]
    assert 0 < stages <= record["total_ms"] * 1.01 and record["fps"] == pytest.approx(1000 / record["total_ms"], rel=1e-2)
    assert result["skipped"][0]["detector"] == "nosuchdetector"
    text = capsys.readouterr().out
    assert "| student (mobilenetv3_small_100, 32 px) | cascade | 1 |" in text and "Skipped detector nosuchdetector" in text
