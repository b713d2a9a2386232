"""Shared fixtures for the service tests: a tiny checkpoint, its ONNX export, encoded test images."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "real" / "silent-face"
DETECTOR = "cascade"  # the fast detector; MTCNN costs seconds per image on this 2-core machine


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
