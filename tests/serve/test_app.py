"""Every endpoint and every error code of the service, through FastAPI's TestClient."""

from __future__ import annotations

import asyncio
import base64
import struct
import time
import zlib

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from facetrust.serve.app import create_app  # noqa: E402
from facetrust.serve.engine import Engine  # noqa: E402
from facetrust.serve.limits import Limits  # noqa: E402
from facetrust.serve.models import load_trust_model  # noqa: E402
from tests.serve.conftest import DETECTOR, encode  # noqa: E402


@pytest.fixture(scope="module")
def engine(checkpoint) -> Engine:
    return Engine(load_trust_model(checkpoint, "fas"), detector=DETECTOR)


@pytest.fixture(scope="module")
def client(engine):
    with TestClient(create_app(engine)) as c:
        yield c


def reference_scores(checkpoint, image: np.ndarray) -> tuple[list, np.ndarray]:
    """Independent path: the detector's boxes, facetrust's margin crop (the default), the bare predictor."""
    import facetrust
    from facetrust.data.faces import crop_face
    from facetrust.pipeline import create_detector

    predictor = facetrust.load(checkpoint)
    boxes = sorted(create_detector(DETECTOR).detect(image), key=lambda b: -b.w * b.h)
    return boxes, predictor.scores([crop_face(image, b, 32, 0.2) for b in boxes])


def png_header_bomb(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height grey pixels (a decoder would allocate all of them)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\x00" * width
    idat = zlib.compress(row * 4, 9)  # a few rows; a full bomb only adds more zeros
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_health_ready_and_models(client, checkpoint):
    import json

    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    models = client.get("/v1/models").json()["models"]
    config = json.loads((checkpoint / "config.json").read_text())
    assert models["fas"]["sha256"] == config["files"]["model.safetensors"]["sha256"]
    assert models["fas"]["threshold"] == 0.5 and models["fas"]["threshold_strategy"] == "test-fixed"
    assert models["fas"]["input_size"] == [3, 32, 32] and models["detector"] == DETECTOR
    assert "/v1/analyze" in client.get("/openapi.json").json()["paths"]


def test_analyze_scores_every_face_as_the_reference(client, checkpoint, astronaut, astronaut_jpeg):
    from facetrust.data.io import decode_image

    response = client.post("/v1/analyze", files={"file": ("whatever.bin", astronaut_jpeg, "application/octet-stream")})
    assert response.status_code == 200, response.text
    body = response.json()
    boxes, scores = reference_scores(checkpoint, decode_image(astronaut_jpeg, "astronaut"))
    assert len(boxes) >= 1 and len(body["faces"]) == len(boxes)
    for face, box, score in zip(body["faces"], boxes, scores, strict=True):
        assert face["box"] == pytest.approx([box.x, box.y, box.w, box.h], abs=0.01)
        assert face["score"] == pytest.approx(float(score), abs=1e-5)
        assert face["decision"] == ("live" if score >= 0.5 else "spoof")
        assert face["threshold"] == 0.5 and face["threshold_strategy"] == "test-fixed"
    assert body["image"] == {"width": astronaut.shape[1], "height": astronaut.shape[0]}
    assert {"decode_ms", "detect_ms", "fas_ms", "total_ms"} <= set(body["timings_ms"])
    raw = client.post("/v1/analyze", content=astronaut_jpeg, headers={"Content-Type": "text/plain"})
    assert raw.status_code == 200 and raw.json()["faces"] == body["faces"]  # type sniffed, header ignored


def test_faceless_image_is_200_with_no_face(client):
    flat = np.full((120, 160, 3), 128, dtype=np.uint8)
    response = client.post("/v1/analyze", content=encode(flat, ".png"))
    assert response.status_code == 200 and response.json()["faces"] == []


def test_api_key(engine, astronaut_jpeg):
    with TestClient(create_app(engine, api_key="s3cret")) as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/").status_code == 200
        for headers in ({}, {"X-API-Key": "wrong"}):
            response = c.post("/v1/analyze", content=astronaut_jpeg, headers=headers)
            assert response.status_code == 401 and "X-API-Key" in response.json()["detail"]
            assert c.get("/v1/models", headers=headers).status_code == 401
            assert c.get("/metrics", headers=headers).status_code == 401
        assert c.post("/v1/analyze", content=astronaut_jpeg, headers={"X-API-Key": "s3cret"}).status_code == 200


def test_missing_models_404_name_the_option(client, astronaut_jpeg):
    verify = client.post("/v1/verify", files={"file_a": astronaut_jpeg, "file_b": astronaut_jpeg})
    assert verify.status_code == 404 and "--face" in verify.json()["detail"]
    claims = client.post("/v1/claims", files={"file": astronaut_jpeg}, data={"claims": "a woman"})
    assert claims.status_code == 404 and "--clip" in claims.json()["detail"]


def test_413_upload_too_large(engine, astronaut_jpeg):
    with TestClient(create_app(engine, Limits(max_bytes=len(astronaut_jpeg) - 1))) as c:
        raw = c.post("/v1/analyze", content=astronaut_jpeg)
        assert raw.status_code == 413 and "limit" in raw.json()["detail"]
        form = c.post("/v1/analyze", files={"file": astronaut_jpeg})
        assert form.status_code == 413


def test_pixel_bomb_refused_before_decoding(client, monkeypatch):
    import facetrust.serve.engine as engine_module

    bomb = png_header_bomb(50_000, 50_000)
    assert len(bomb) < 2_000_000
    monkeypatch.setattr(engine_module, "decode", lambda *a: pytest.fail("a bomb reached the decoder"))
    response = client.post("/v1/analyze", content=bomb)
    assert response.status_code == 413
    assert "50000x50000" in response.json()["detail"] and "pixels" in response.json()["detail"]


@pytest.mark.parametrize("payload", [b"hello, this is text", b"GIF89a" + b"\x00" * 64, b"%PDF-1.4\n"])
def test_415_type_from_content(client, payload):
    response = client.post("/v1/analyze", files={"file": ("photo.jpg", payload, "image/jpeg")})
    assert response.status_code == 415 and "first bytes" in response.json()["detail"]


def test_422_corrupt_image_names_the_problem(client, astronaut_jpeg):
    truncated = client.post("/v1/analyze", content=astronaut_jpeg[: len(astronaut_jpeg) // 2])
    assert truncated.status_code == 422 and "truncated" in truncated.json()["detail"].lower()
    garbage = client.post("/v1/analyze", content=b"\x89PNG\r\n\x1a\n" + b"\x13" * 200)
    assert garbage.status_code == 422 and "corrupt" in garbage.json()["detail"]
    empty = client.post("/v1/analyze", content=b"")
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    no_field = client.post("/v1/analyze", files={"image": astronaut_jpeg})
    assert no_field.status_code == 422 and "'file'" in no_field.json()["detail"]


class SlowEngine:
    """Stands in for the engine: each analysis sleeps, so that the queue fills."""

    face = claims = deepfake = None

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def analyze(self, data, source, explain=None):
        time.sleep(self.seconds)
        return {"faces": []}


def _concurrent_posts(app, n: int, body: bytes) -> list:
    import httpx

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await asyncio.gather(*(c.post("/v1/analyze", content=body) for _ in range(n)))

    return asyncio.run(main())


def test_503_when_the_queue_is_full(astronaut_jpeg):
    app = create_app(SlowEngine(1.0), Limits(max_concurrency=1, max_queue=1))
    responses = _concurrent_posts(app, 4, astronaut_jpeg)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 200, 503, 503]
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["Retry-After"] == "1" and "busy" in busy.json()["detail"]


def test_504_per_request_timeout(astronaut_jpeg):
    app = create_app(SlowEngine(1.0), Limits(timeout_s=0.2))
    (response,) = _concurrent_posts(app, 1, astronaut_jpeg)
    assert response.status_code == 504 and "0.2 s" in response.json()["detail"]


def test_explain_gradcam_heatmap(client, astronaut_jpeg):
    import cv2

    body = client.post("/v1/analyze?explain=gradcam", content=astronaut_jpeg).json()
    face = body["faces"][0]
    heatmap = face["heatmap"]
    png = cv2.imdecode(np.frombuffer(base64.b64decode(heatmap["png"]), np.uint8), cv2.IMREAD_UNCHANGED)
    assert png.shape == (32, 32, 4) and png[:, :, 3].max() > png[:, :, 3].min()  # alpha follows the map
    x, y, w, h = face["box"]
    side = max(w, h) * 1.4  # the default margin crop (0.2 per side) the model scored
    assert heatmap["region"] == pytest.approx([x + w / 2 - side / 2, y + h / 2 - side / 2, side, side], abs=0.02)
    assert heatmap["explains"] == ("bona fide" if face["decision"] == "live" else "attack")
    unfit = client.post("/v1/analyze?explain=clip-relevance", content=astronaut_jpeg)
    assert unfit.status_code == 422 and "does not fit" in unfit.json()["detail"]
    assert client.post("/v1/analyze?explain=nonsense", content=astronaut_jpeg).status_code == 422


def test_explain_needs_pytorch_409(onnx_folder, astronaut_jpeg):
    engine = Engine(load_trust_model(onnx_folder, "fas"), detector=DETECTOR)
    assert engine.fas.backend == "onnxruntime" and engine.fas.explainable is None
    with TestClient(create_app(engine)) as c:
        assert c.post("/v1/analyze", content=astronaut_jpeg).status_code == 200
        response = c.post("/v1/analyze?explain=gradcam", content=astronaut_jpeg)
        assert response.status_code == 409 and "PyTorch checkpoint" in response.json()["detail"]


def test_metrics_count_requests_errors_and_latency(engine, astronaut_jpeg):
    with TestClient(create_app(engine)) as c:
        for _ in range(2):
            c.post("/v1/analyze", content=astronaut_jpeg)
        c.post("/v1/analyze", content=b"not an image")
        text = c.get("/metrics").text
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert lines['facetrust_requests_total{endpoint="/v1/analyze",method="POST",status="200"}'] == "2"
    assert lines['facetrust_errors_total{endpoint="/v1/analyze",status="415"}'] == "1"
    assert lines['facetrust_request_duration_seconds_count{endpoint="/v1/analyze"}'] == "3"
    assert lines['facetrust_request_duration_seconds_bucket{endpoint="/v1/analyze",le="+Inf"}'] == "3"
    buckets = [int(v) for k, v in lines.items() if k.startswith('facetrust_request_duration_seconds_bucket{endpoint="/v1/analyze"')]
    assert buckets == sorted(buckets)  # cumulative


def test_stream_tracks_and_smooths(client, checkpoint, astronaut):
    """Three frames of one face: one track, smoothed score = EMA(0.5) of the frame scores."""
    shifted = [np.roll(astronaut, shift, axis=1) for shift in (0, 4, 8)]
    results = []
    with client.websocket_connect("/v1/stream") as socket:
        for frame in shifted:
            socket.send_bytes(encode(frame))
            results.append(socket.receive_json())
        socket.send_bytes(b"not a frame")
        error = socket.receive_json()
        socket.send_bytes(encode(shifted[0]))
        after = socket.receive_json()
    assert [r["frame"] for r in results] == [0, 1, 2]
    assert all(len(r["tracks"]) >= 1 and r["tracks"][0]["track_id"] == 0 for r in results)
    frame_scores = [r["tracks"][0]["score"] for r in results]
    ema = frame_scores[0]
    for r, score in zip(results, frame_scores, strict=True):
        ema = score if r is results[0] else 0.5 * score + 0.5 * ema
        assert r["tracks"][0]["smoothed_score"] == pytest.approx(ema, abs=1e-9)
    assert error["error"]["status"] == 415
    assert after["frame"] == 4 and after["tracks"][0]["track_id"] == 0  # the connection survived the bad frame


def test_stream_needs_the_key(engine, astronaut):
    from starlette.websockets import WebSocketDisconnect

    with TestClient(create_app(engine, api_key="k")) as c:
        with pytest.raises(WebSocketDisconnect) as closed:
            with c.websocket_connect("/v1/stream") as socket:
                socket.receive_json()
        assert closed.value.code == 1008
        with c.websocket_connect("/v1/stream?api_key=k") as socket:
            socket.send_bytes(encode(astronaut))
            assert "tracks" in socket.receive_json()


def test_cors_off_by_default(engine):
    preflight = {"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"}
    with TestClient(create_app(engine)) as c:
        assert "access-control-allow-origin" not in c.options("/v1/analyze", headers=preflight).headers
    with TestClient(create_app(engine, cors_origins=["http://elsewhere.example"])) as c:
        response = c.options("/v1/analyze", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "http://elsewhere.example"


def test_no_file_written_for_a_large_multipart_upload(client, monkeypatch, rng):
    import tempfile

    def refuse(*args, **kwargs):
        raise AssertionError("the service tried to create a temporary file")

    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    noise = encode(rng.integers(0, 256, size=(900, 900, 3), dtype=np.uint8), ".png")
    assert len(noise) > 2 * 1024 * 1024  # Starlette would spool this to disk
    response = client.post("/v1/analyze", files={"file": ("noise.png", noise, "image/png")})
    assert response.status_code == 200, response.text


def test_page_is_served_with_no_external_resource(client):
    import re

    page = client.get("/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    text = page.text + client.get("/static/app.js").text + client.get("/static/style.css").text
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", text) and "cdn" not in text.lower()
