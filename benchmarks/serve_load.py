"""Load test of ``facetrust serve``: N concurrent clients against POST /v1/analyze on 127.0.0.1.

Starts ``facetrust serve --fas MODEL`` as a child process on 127.0.0.1 and a free port (never any
other host), then for each client count (default 1, 8, 32) sends at most ``--requests`` requests
within at most ``--seconds`` seconds, and stops by itself: throughput, p50/p95/p99 latency and the
error count per level. The same images then go through the in-process path (decode -> detect ->
crop -> classify, ``facetrust.pipeline.analyze_image`` with the same ONNX predictor) for the
service/in-process throughput ratio.

    .venv/bin/python benchmarks/serve_load.py --fas runs/demo/student_onnx [--clients 1 8 32] \\
        [--requests 400] [--seconds 60] [--workers 2] [--detector blazeface] [--out runs/serve_load]

Without ``--fas`` a tiny random ResNet8 is exported to ONNX on the spot (a smoke run: the numbers
then measure the service's overhead more than a model). Writes ``serve_load.json`` and
``serve_load.md`` in ``--out`` and records the load average: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "real" / "silent-face"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_images(paths: list[str]) -> list[bytes]:
    """Encoded image files as sent by a client (default: the shared photos, else the astronaut)."""
    files = [Path(p) for p in paths] or sorted(REAL.glob("image_*.jpg"))
    if files:
        return [f.read_bytes() for f in files]
    import cv2
    import skimage.data

    ok, data = cv2.imencode(".jpg", cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    return [data.tobytes()]


def tiny_onnx(folder: Path) -> Path:
    from facetrust import create_model, save
    from facetrust.export.onnx import export_checkpoint

    checkpoint = save(create_model("resnet8", embed_dim=16, image_size=32), folder / "ckpt", threshold=0.5)
    export_checkpoint(checkpoint, folder / "onnx", exporter="torchscript", log=lambda message: None)
    return folder / "onnx"


class Server:
    """``facetrust serve`` on 127.0.0.1 as a child process, stopped on exit."""

    def __init__(self, args: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args

    def __enter__(self) -> Server:
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "facetrust.cli", "serve", *self.args, "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise SystemExit(f"facetrust serve exited:\n{self.log.read().decode(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2):
                    return self
            except OSError:
                time.sleep(0.3)
        self.__exit__()
        raise SystemExit("facetrust serve did not become ready within 180 s")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


async def run_level(url: str, images: list[bytes], clients: int, max_requests: int, max_seconds: float) -> dict:
    """``clients`` concurrent loops sharing one request budget and one deadline."""
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    issued = 0
    deadline = time.perf_counter() + max_seconds

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal issued
        while issued < max_requests and time.perf_counter() < deadline:
            body = images[issued % len(images)]
            issued += 1
            started = time.perf_counter()
            try:
                response = await c.post(f"{url}/v1/analyze", content=body, timeout=max(5.0, max_seconds))
                status = str(response.status_code)
            except httpx.HTTPError as err:
                status = type(err).__name__
            if status == "200":
                latencies.append(time.perf_counter() - started)
            else:
                errors[status] = errors.get(status, 0) + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits) as c:
        started = time.perf_counter()
        await asyncio.gather(*(client(c) for _ in range(clients)))
        wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000.0
    percentile = (lambda q: float(np.percentile(ms, q))) if len(ms) else (lambda q: float("nan"))
    return {"clients": clients, "requests": issued, "ok": len(latencies), "errors": sum(errors.values()),
            "error_kinds": errors, "seconds": wall, "throughput_rps": len(latencies) / wall if wall else 0.0,
            "p50_ms": percentile(50), "p95_ms": percentile(95), "p99_ms": percentile(99)}


def in_process(model: str, images: list[bytes], detector: str, max_requests: int, max_seconds: float) -> dict:
    """The same work without HTTP: decode, detect, crop and classify with the same ONNX predictor."""
    import facetrust
    from facetrust.data.io import decode_image
    from facetrust.pipeline import analyze_image, create_detector

    predictor, finder = facetrust.load(model), create_detector(detector)
    for body in images:  # warm-up
        analyze_image(predictor, decode_image(body, "warm-up"), finder)
    done, started = 0, time.perf_counter()
    while done < max_requests and time.perf_counter() - started < max_seconds:
        analyze_image(predictor, decode_image(images[done % len(images)], "image"), finder)
        done += 1
    wall = time.perf_counter() - started
    return {"images": done, "seconds": wall, "throughput_ips": done / wall if wall else 0.0}


def markdown(result: dict) -> str:
    base = result["in_process"]["throughput_ips"]
    lines = [f"`facetrust serve` load test: {result['model']}, detector {result['detector']}, "
             f"{result['workers']} worker(s), {len(result['images'])} image(s); load average before "
             f"{result['load_before']}, after {result['load_after']}.", "",
             "| clients | requests | errors | throughput (req/s) | p50 ms | p95 ms | p99 ms | p99/p50 | vs in-process |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["levels"]:
        lines.append(f"| {r['clients']} | {r['requests']} | {r['errors']} | {r['throughput_rps']:.2f} | {r['p50_ms']:.1f} | "
                     f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['p99_ms'] / r['p50_ms']:.2f} | "
                     f"{r['throughput_rps'] / base:.0%} |")
    lines += ["", f"In-process (same images, same predictor, one thread of calls): {base:.2f} images/s "
              f"over {result['in_process']['images']} images."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fas", help="ONNX folder (or checkpoint) to serve; default: a tiny exported ResNet8")
    parser.add_argument("--images", nargs="*", default=[], help="image files to send (default: the shared photos)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=400, help="at most this many requests per level")
    parser.add_argument("--seconds", type=float, default=60.0, help="at most this long per level")
    parser.add_argument("--workers", type=int, default=2, help="the service's --workers")
    parser.add_argument("--queue", type=int, default=64, help="the service's --queue")
    parser.add_argument("--detector", default=None, help="face detector (default: facetrust's default)")
    parser.add_argument("--out", default="runs/serve_load")
    args = parser.parse_args(argv)

    from facetrust.pipeline import default_detector_name

    detector = args.detector or default_detector_name()
    images = load_images(args.images)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.fas or str(tiny_onnx(Path(tmp)))
        load_before = " ".join(f"{v:.2f}" for v in os.getloadavg())
        serve_args = ["--fas", model, "--detector", detector, "--workers", str(args.workers), "--queue", str(args.queue)]
        with Server(serve_args) as server:
            asyncio.run(run_level(server.url, images, 1, 2 * len(images), 30.0))  # warm-up, not reported
            levels = []
            for clients in args.clients:
                levels.append(asyncio.run(run_level(server.url, images, clients, args.requests, args.seconds)))
                r = levels[-1]
                print(f"{clients:3d} clients: {r['ok']} ok, {r['errors']} errors, {r['throughput_rps']:.2f} req/s, "
                      f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms", flush=True)
        local = in_process(model, images, detector, args.requests, args.seconds)
        print(f"in-process: {local['throughput_ips']:.2f} images/s", flush=True)
        load_after = " ".join(f"{v:.2f}" for v in os.getloadavg())
    result = {"model": args.fas or "tiny random resnet8 (ONNX)", "detector": detector, "workers": args.workers,
              "images": [len(b) for b in images], "levels": levels, "in_process": local,
              "load_before": load_before, "load_after": load_after}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "serve_load.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "serve_load.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
