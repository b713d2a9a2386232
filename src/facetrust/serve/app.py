"""The FastAPI application: versioned JSON endpoints, the camera WebSocket, health, metrics, the page.

``create_app(engine, limits, api_key=None, cors_origins=())`` builds it around models already loaded
(``facetrust serve`` loads them once, before the first request). Every inference runs in the
``InferenceGate``'s thread pool, so the event loop only reads bodies and writes answers.
"""

from __future__ import annotations

import hmac
import json
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from facetrust import __version__
from facetrust.errors import DataError
from facetrust.serve.engine import Engine
from facetrust.serve.heatmap import ExplainError
from facetrust.serve.limits import InferenceGate, Limits, RequestRefused, check_image_bytes
from facetrust.serve.metrics import CONTENT_TYPE, Metrics
from facetrust.serve.uploads import one_file, read_body, read_form_or_raw

STATIC = Path(__file__).parent / "static"
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
            "connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; object-src 'none'")
IMAGE_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                                       "required": ["file"]}},
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "image/png": {"schema": {"type": "string", "format": "binary"}},
}}}
VERIFY_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file_a", "file_b"],
    "properties": {"file_a": {"type": "string", "format": "binary"}, "file_b": {"type": "string", "format": "binary"}}}}}}}
CLAIMS_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "claims"],
    "properties": {"file": {"type": "string", "format": "binary"},
                   "claims": {"type": "array", "items": {"type": "string"},
                              "description": "one field per claim, or one field holding a JSON list"}}}}}}}


def _missing(option: str, what: str) -> RequestRefused:
    return RequestRefused(404, f"{what} is not available: this service was started without {option}; "
                               f"restart it with `facetrust serve ... {option}`")


def create_app(engine: Engine, limits: Limits | None = None, api_key: str | None = None,
               cors_origins: tuple[str, ...] | list[str] = ()) -> FastAPI:
    """The service around a loaded ``Engine``."""
    limits = limits or Limits()
    gate = InferenceGate(limits)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        gate.close()

    from fastapi_offline import FastAPIOffline  # Swagger UI served from its wheel, not from a CDN

    app = FastAPIOffline(title="facetrust", version=__version__, lifespan=lifespan, redoc_url=None,
                         static_url="/docs-static",
                         description="Can this face be trusted? Live/spoof (and deepfake) decisions per face, "
                         "face verification and claim checks, from uploaded images or a camera stream.")
    app.state.engine, app.state.limits, app.state.gate, app.state.metrics = engine, limits, gate, metrics
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["X-API-Key", "Content-Type"])

    @app.middleware("http")
    async def count(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        endpoint = getattr(route, "path", None) or ("/static" if request.url.path.startswith("/static") else "other")
        metrics.observe(endpoint, request.method, response.status_code, time.perf_counter() - started)
        if request.url.path == "/" or request.url.path.startswith("/static"):
            response.headers["Content-Security-Policy"] = PAGE_CSP
        return response

    @app.exception_handler(RequestRefused)
    async def refused(_: Request, err: RequestRefused):
        return JSONResponse({"detail": err.message}, status_code=err.status, headers=err.headers)

    @app.exception_handler(DataError)
    async def bad_data(_: Request, err: DataError):
        return JSONResponse({"detail": f"corrupt or unusable image: {err}"}, status_code=422)

    @app.exception_handler(ExplainError)
    async def bad_explain(_: Request, err: ExplainError):
        return JSONResponse({"detail": str(err)}, status_code=err.status)

    def key_ok(given: str | None) -> bool:
        return api_key is None or (given is not None and hmac.compare_digest(given.encode(), api_key.encode()))

    async def require_key(request: Request) -> None:
        if not key_ok(request.headers.get("x-api-key")):
            raise RequestRefused(401, "missing or wrong API key: send it in the X-API-Key header",
                                 {"WWW-Authenticate": "X-API-Key"})

    guarded = [Depends(require_key)]

    @app.get("/healthz", summary="alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="models loaded and the queue has room")
    async def readyz():
        ready = app.state.engine is not None
        body = {"ready": ready, "running": gate.running, "queued": gate.waiting}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/v1/models", dependencies=guarded, summary="what is loaded: names, hashes, thresholds, input sizes")
    async def models() -> dict[str, Any]:
        return {"models": engine.describe(), "limits": limits.__dict__, "version": __version__,
                "endpoints": {"verify": engine.face is not None, "claims": engine.claims is not None,
                              "deepfake": engine.deepfake is not None}}

    @app.get("/metrics", dependencies=guarded, summary="Prometheus text format")
    async def prometheus():
        metrics.gauges.update(in_flight=gate.running, queued=gate.waiting)
        return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE)

    @app.post("/v1/analyze", dependencies=guarded, openapi_extra=IMAGE_BODY,
              summary="faces, live score and decision (deepfake, identity, heatmap when available)")
    async def analyze(request: Request, explain: Literal["gradcam", "clip-relevance"] | None = Query(
            None, description="add a heatmap per face (needs the PyTorch checkpoint of --fas)")):
        received = await read_form_or_raw(request, limits.max_bytes)
        data = one_file(received, "file") if isinstance(received, dict) else received
        check_image_bytes(data, limits)
        return await gate.run(engine.analyze, data, "upload", explain)

    @app.post("/v1/verify", dependencies=guarded, openapi_extra=VERIFY_BODY,
              summary="two images: the same person? (needs --face)")
    async def verify(request: Request):
        if engine.face is None:
            raise _missing("--face CKPT --gallery DIR", "face verification")
        form = await read_form_or_raw(request, limits.max_bytes, files=2)
        if not isinstance(form, dict):
            raise RequestRefused(422, "send a multipart form with two image fields, file_a and file_b")
        a, b = one_file(form, "file_a"), one_file(form, "file_b")
        check_image_bytes(a, limits)
        check_image_bytes(b, limits)
        return await gate.run(engine.verify, a, b)

    @app.post("/v1/claims", dependencies=guarded, openapi_extra=CLAIMS_BODY,
              summary="image + text claims: is each supported? (needs --clip)")
    async def claims(request: Request):
        if engine.claims is None:
            raise _missing("--clip CKPT", "claim verification")
        form = await read_form_or_raw(request, limits.max_bytes)
        if not isinstance(form, dict):
            raise RequestRefused(422, "send a multipart form with an image field 'file' and one or more 'claims'")
        data = one_file(form, "file")
        texts = parse_claims(form.get("claims", []), limits.max_claims)
        check_image_bytes(data, limits)
        return await gate.run(engine.verify_claims, data, texts)

    @app.websocket("/v1/stream")
    async def stream(socket: WebSocket):
        """Binary JPEG/PNG frames in, one JSON result per frame out (tracks with smoothed decisions)."""
        if not key_ok(socket.headers.get("x-api-key") or socket.query_params.get("api_key")):
            await socket.close(code=1008, reason="missing or wrong API key (X-API-Key header or ?api_key=)")
            return
        await socket.accept()
        tracker = await gate.run(engine.new_tracker)
        index = 0
        try:
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes")
                started = time.perf_counter()
                status = 200
                try:
                    if data is None:
                        raise RequestRefused(415, "send each frame as a binary message (JPEG or PNG bytes)")
                    check_image_bytes(data, limits)
                    result = await gate.run(engine.stream_frame, tracker, data, index)
                except RequestRefused as err:
                    status, result = err.status, {"frame": index, "error": {"status": err.status, "message": err.message}}
                except DataError as err:
                    status, result = 422, {"frame": index, "error": {"status": 422, "message": f"corrupt frame: {err}"}}
                metrics.observe("/v1/stream", "WS", status, time.perf_counter() - started)
                await socket.send_text(json.dumps(result))
                index += 1
        except WebSocketDisconnect:
            pass

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def parse_claims(values: list[bytes], max_claims: int) -> list[str]:
    """Claims from form fields: one per field, or a JSON list in one field; 422 when none or too many."""
    texts: list[str] = []
    for value in values:
        text = value.decode("utf-8", "replace").strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError as err:
                raise RequestRefused(422, f"the claims field looks like JSON but is not valid: {err}") from err
            texts += [str(item).strip() for item in items]
        else:
            texts.append(text)
    texts = [t for t in texts if t]
    if not texts:
        raise RequestRefused(422, "no claims: send one or more non-empty 'claims' form fields")
    if len(texts) > max_claims:
        raise RequestRefused(413, f"{len(texts)} claims sent; this service checks at most {max_claims} per request")
    return texts


__all__ = ["create_app", "read_body"]
