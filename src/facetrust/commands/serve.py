"""``facetrust serve --fas CKPT``: the HTTP service and web page (FastAPI + uvicorn, the ``serve`` extra).

    facetrust serve --fas runs/student_onnx [--deepfake CKPT] [--face CKPT --gallery DIR] [--clip CKPT]
                    [--host 127.0.0.1] [--port 8000] [--api-key-file FILE]
"""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve", help="HTTP service and web page: upload an image or open the camera, get trust decisions",
        description="Loads the models once, then serves POST /v1/analyze, /v1/verify, /v1/claims, WS /v1/stream, "
        "/healthz, /readyz, /v1/models, /metrics, OpenAPI at /docs and a web page at /. Binds 127.0.0.1 "
        "unless --host says otherwise. Needs the serve extra: pip install 'facetrust[serve]'.",
    )
    p.add_argument("--fas", required=True, metavar="CKPT",
                   help="anti-spoofing model: exported ONNX folder (preferred) or PyTorch checkpoint folder")
    p.add_argument("--deepfake", metavar="CKPT", help="deepfake model (ONNX folder or checkpoint)")
    p.add_argument("--face", metavar="CKPT", help="face-recognition checkpoint, its ONNX folder, or dlib-resnet (enables /v1/verify; "
                   "with --gallery, identities in /v1/analyze)")
    p.add_argument("--gallery", metavar="DIR", help="gallery folder made by `facetrust enroll` with the same --face model")
    p.add_argument("--clip", metavar="CKPT", help="CLIP for /v1/claims: a checkpoint folder, a .safetensors CLIP or an open_clip name")
    p.add_argument("--detector", default=None,
                   help="face detector (default: the one the --fas checkpoint records, else facetrust's default)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--api-key-file", metavar="FILE", help="require this key (file content) in the X-API-Key header")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="allow cross-origin calls from ORIGIN (repeatable; CORS is off by default)")
    p.add_argument("--max-bytes", type=int, default=10 * 1024 * 1024, help="largest upload in bytes (413 above)")
    p.add_argument("--max-pixels", type=int, default=40_000_000, help="largest image in pixels (413 above, before decoding)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (504 after)")
    p.add_argument("--workers", type=int, default=2, help="inferences running at once (thread pool size)")
    p.add_argument("--queue", type=int, default=64, help="requests waiting for a worker; more get 503 + Retry-After")
    p.add_argument("--device", default="cpu", metavar="auto|cpu|gpu|cuda[:N]",
                   help="where PyTorch checkpoints run (ONNX folders run on ONNX Runtime's CPU)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"),
                   help="uvicorn's log level (default info)")
    p.set_defaults(func=run)


def read_api_key(path: str) -> str:
    """The key in ``path`` (surrounding whitespace stripped); ConfigError when missing or empty."""
    from pathlib import Path

    from facetrust.errors import ConfigError

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--api-key-file {file}: file not found")
    key = file.read_text(encoding="utf-8", errors="strict").strip()
    if not key:
        raise ConfigError(f"--api-key-file {file}: the file is empty; put the key on its first line")
    return key


def build_engine(args):
    """Load every model named on the command line, once."""
    from facetrust.errors import ConfigError
    from facetrust.serve.engine import Engine
    from facetrust.serve.models import load_claims_model, load_face_model, load_trust_model

    if args.gallery and not args.face:
        raise ConfigError("--gallery needs --face (the model that made the gallery)")
    fas = load_trust_model(args.fas, "fas", device=args.device)
    deepfake = load_trust_model(args.deepfake, "deepfake", device=args.device) if args.deepfake else None
    face = gallery = None
    if args.face:
        face, gallery = load_face_model(args.face, args.gallery)
    claims = load_claims_model(args.clip) if args.clip else None
    return Engine(fas, deepfake, face, gallery, claims, detector=args.detector, max_pixels=args.max_pixels)


def run(args) -> int:
    import ipaddress
    import sys

    from facetrust.errors import ConfigError

    try:
        import uvicorn

        from facetrust.serve.app import create_app
    except ImportError as err:
        raise ConfigError(f"facetrust serve needs the serve extra ({err.name} is missing): "
                          "pip install 'facetrust[serve]'") from err
    from facetrust.serve.limits import Limits

    for name in ("workers", "queue", "max_bytes", "max_pixels"):
        if getattr(args, name) < (0 if name == "queue" else 1):
            raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    api_key = read_api_key(args.api_key_file) if args.api_key_file else None
    limits = Limits(max_bytes=args.max_bytes, max_pixels=args.max_pixels, timeout_s=args.timeout,
                    max_concurrency=args.workers, max_queue=args.queue)
    engine = build_engine(args)
    app = create_app(engine, limits, api_key=api_key, cors_origins=args.cors_origin)
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        print(f"facetrust serve: warning: binding {args.host}: reachable from other machines"
              + ("" if api_key else " with no API key (--api-key-file)"), file=sys.stderr)
    models = engine.describe()
    print(f"facetrust serve: fas={models['fas']['name']} ({models['fas']['backend']}, threshold "
          f"{models['fas']['threshold']}), detector={models['detector']}; http://{args.host}:{args.port}/",
          file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, ws_max_size=args.max_bytes + 1024)
    return 0
