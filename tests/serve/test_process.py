"""``facetrust serve`` started as a real process on 127.0.0.1, called over HTTP."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.serve.conftest import DETECTOR, ServerProcess


@pytest.fixture(scope="module")
def server(onnx_folder, tmp_path_factory):
    key_file = tmp_path_factory.mktemp("key") / "api.key"
    key_file.write_text("process-key\n")
    with ServerProcess(["--fas", str(onnx_folder), "--detector", DETECTOR, "--api-key-file", str(key_file),
                        "--workers", "1", "--queue", "4"]) as process:
        yield process


def test_real_process_over_http(server, onnx_folder, astronaut_jpeg):
    import facetrust
    from facetrust.data.faces import crop_face
    from facetrust.data.io import decode_image
    from facetrust.pipeline import create_detector

    key = {"X-API-Key": "process-key"}
    assert server.url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    assert httpx.post(f"{server.url}/v1/analyze", content=astronaut_jpeg).status_code == 401
    models = httpx.get(f"{server.url}/v1/models", headers=key).json()["models"]
    config = json.loads((onnx_folder / "config.json").read_text())
    assert models["fas"]["backend"] == "onnxruntime"
    assert models["fas"]["sha256"] == config["files"]["model.onnx"]["sha256"]
    response = httpx.post(f"{server.url}/v1/analyze", headers=key, timeout=60,
                          files={"file": ("a.jpg", astronaut_jpeg, "image/jpeg")})
    assert response.status_code == 200, response.text
    faces = response.json()["faces"]
    image = decode_image(astronaut_jpeg, "astronaut")
    box = sorted(create_detector(DETECTOR).detect(image), key=lambda b: -b.w * b.h)[0]
    expected = facetrust.load(onnx_folder).scores([crop_face(image, box, 32, 0.2)])[0]
    assert faces[0]["score"] == pytest.approx(float(expected), abs=1e-5)
    assert httpx.post(f"{server.url}/v1/analyze", headers=key, content=b"plain text").status_code == 415
    metrics = httpx.get(f"{server.url}/metrics", headers=key).text
    assert 'facetrust_requests_total{endpoint="/v1/analyze",method="POST",status="200"} 1' in metrics
    assert 'facetrust_errors_total{endpoint="/v1/analyze",status="401"} 1' in metrics
    assert "/v1/analyze" in httpx.get(f"{server.url}/openapi.json").json()["paths"]
    docs = httpx.get(f"{server.url}/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text.lower() and "/docs-static/swagger-ui-bundle.js" in docs.text
    assert httpx.get(f"{server.url}/docs-static/swagger-ui-bundle.js").status_code == 200  # from the wheel


def test_bad_start_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "facetrust.cli", "serve", "--fas", str(tmp_path / "nothing")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "does not exist" in result.stderr
