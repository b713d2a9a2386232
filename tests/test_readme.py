"""README.md runs as written: every block marked ``<!-- readme-test: NAME -->`` is extracted from the
README (so the test follows it) and run verbatim in an empty temporary folder, bash blocks with
``bash -e``, Python blocks with this interpreter. Only ``$FACETRUST_SET`` (overrides every config
load applies, documented in facetrust.config) makes the training block tiny."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
MARKED = re.compile(r"<!-- readme-test: (?P<name>[\w-]+) -->\n```(?P<lang>\w+)\n(?P<body>.*?)\n```", re.S)
TINY = ";".join(["train.iterations=4", "train.val_every=2", "protocol.targets=cctv", "eval.n_bootstrap=0"])


def blocks() -> dict[str, tuple[str, str]]:
    found = {m["name"]: (m["lang"], m["body"]) for m in MARKED.finditer(README.read_text())}
    assert {"quickstart-data", "quickstart-train", "quickstart-bench", "snippet"} <= set(found), sorted(found)
    return found


def run_block(name: str, folder: Path, timeout: int, **env: str) -> subprocess.CompletedProcess:
    lang, body = blocks()[name]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", **env,
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = ["bash", "-e", "-o", "pipefail", "-c", body] if lang == "bash" else [sys.executable, "-c", body]
    assert lang in ("bash", "python"), lang
    result = subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"README block {name!r} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """An empty folder after the first quickstart block (fas-sim, check, face.jpg, clip.mp4)."""
    folder = tmp_path_factory.mktemp("readme")
    result = run_block("quickstart-data", folder, timeout=900)
    fas = folder / "runs/demo/flip_it_tiny/fas-sim-s0-64-25x3"
    assert (fas / "manifest.csv").is_file() and (folder / "grid.png").is_file()
    assert "OK" in result.stdout  # data check passed
    assert (folder / "face.jpg").is_file() and (folder / "clip.mp4").stat().st_size > 0
    return folder


def test_quickstart_data_block(quickstart):
    import pandas as pd

    # 25 subjects per domain: the data set the demo configs train on, so training reuses it
    df = pd.read_csv(quickstart / "runs/demo/flip_it_tiny/fas-sim-s0-64-25x3/manifest.csv")
    assert df.groupby("domain")["subject_id"].nunique().tolist() == [25, 25, 25, 25]


def test_python_snippet(quickstart):
    result = run_block("snippet", quickstart, timeout=900)
    assert result.stdout.split()[0] in ("live", "spoof")
    assert (quickstart / "runs/my-model/config.json").is_file()


@pytest.mark.slow
def test_quickstart_train_to_predict(quickstart):
    before = (quickstart / "runs/demo/flip_it_tiny/fas-sim-s0-64-25x3/manifest.csv").stat().st_mtime
    result = run_block("quickstart-train", quickstart, timeout=3000, FACETRUST_SET=TINY)
    assert (quickstart / "runs/demo/flip_it_tiny/fas-sim-s0-64-25x3/manifest.csv").stat().st_mtime == before
    report = quickstart / "eval-demo_mobilenet-kiosk+phone+webcam-cctv-seed0-cctv" / "report.md"
    assert "split `all`" in report.read_text()
    assert (quickstart / "deploy/model.onnx").is_file() and (quickstart / "deploy/int8").is_dir()
    assert (quickstart / "heatmap.png").is_file()
    assert "[W:onnxruntime" not in result.stderr  # ORT's initializer warnings are silenced
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    paths = [r["path"] for line in lines if "results" in line for r in line["results"]]
    assert paths == ["face.jpg", "clip.mp4"]


@pytest.mark.slow
def test_quickstart_bench(tmp_path):
    run_block("quickstart-bench", tmp_path, timeout=3000)
    assert json.loads((tmp_path / "bench.json").read_text())
