"""Shared fixtures for the service tests: a tiny checkpoint, its ONNX export, encoded test images."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "real" / "silent-face"


def _fast_detector() -> str:
    """BlazeFace (a few ms per frame) when its model file is installed, else the cascade; MTCNN costs
    up to seconds per image on this 2-core machine."""
    try:
        from facetrust.pipeline import create_detector

        create_detector("blazeface")
    except Exception:  # the file is fetched by `make install` (facetrust models fetch blazeface)
        return "cascade"
    return "blazeface"


DETECTOR = _fast_detector()


def encode(image: np.ndarray, ext: str = ".jpg") -> bytes:
    import cv2

    ok, data = cv2.imencode(ext, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    from facetrust import create_model, save, seed_everything

    seed_everything(0)
    model = create_model("resnet8", embed_dim=16, image_size=32, widths=(8, 16, 32))
    return save(model, tmp_path_factory.mktemp("serve") / "fas_ckpt", threshold=0.5, threshold_strategy="test-fixed")


@pytest.fixture(scope="session")
def onnx_folder(checkpoint, tmp_path_factory) -> Path:
    from facetrust.export.onnx import export_checkpoint

    out = tmp_path_factory.mktemp("serve_onnx") / "fas_onnx"
    export_checkpoint(checkpoint, out, exporter="torchscript", log=lambda message: None)
    return out


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut())


@pytest.fixture(scope="session")
def astronaut_jpeg(astronaut) -> bytes:
    return encode(astronaut)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``facetrust serve`` as a real process on 127.0.0.1 and a free port; stopped on exit."""

    def __init__(self, args: list[str], startup_s: float = 120.0) -> None:
        self.args, self.startup_s = args, startup_s
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerProcess:
        import os
        import subprocess
        import sys
        import tempfile
        import time
        import urllib.request

        self.log = tempfile.TemporaryFile()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "facetrust.cli", "serve", *self.args, "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"], stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"facetrust serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.__exit__(None, None, None)
        raise RuntimeError(f"facetrust serve did not answer /healthz within {self.startup_s:.0f} s:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def __exit__(self, *exc) -> None:
        import subprocess

        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()
