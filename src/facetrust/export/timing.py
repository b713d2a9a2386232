"""Timing, in one place: every latency facetrust reports (``facetrust bench``, the demo's bench steps,
``facetrust export --precision auto``, the students frontier) comes from ``time_round_robin``.

Method ``"phased"`` (default): PyTorch and ONNX Runtime never run at the same time. In one process
their thread pools compete: ORT's intra-op threads spin after each call waiting for more work, and
interleaving a PyTorch call between two ORT calls (or the reverse) makes each pool run against the
other's spinning threads; measured here, MobileNetV3-Large on ORT FP32 took 19.9 ms interleaved with
PyTorch and 7.6 ms alone. So the rounds are split into a few blocks, and in each block every backend
family (``torch``, ``ort``) has its own phase in which its runners are called round-robin: models of
one backend stay interleaved call by call (load from other processes hits them alike), backends
alternate block by block (slow drifts in load hit both), and the figure is what a deployed process
running one backend would see. ``"interleaved"`` is the old method (every runner once per round), kept
for comparison. ``thread_settings`` records what was used.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.export.runtime import make_session

METHODS = ("phased", "interleaved")
THREAD_ENV = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS", "KMP_BLOCKTIME", "GOMP_SPINCOUNT")


@dataclass
class Runner:
    """One (model, backend) to time: ``call(batch)`` runs it once."""

    model: str
    backend: str
    call: Callable[[np.ndarray], Any]
    params: int
    gflops: float
    extra: dict[str, Any] = field(default_factory=dict)


def torch_call(fn: Callable) -> Callable[[np.ndarray], Any]:
    import torch

    def call(batch: np.ndarray):
        with torch.inference_mode():
            return fn(torch.from_numpy(batch))
    return call


def ort_call(session) -> Callable[[np.ndarray], Any]:
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})


def backend_family(backend: str) -> str:
    """"torch" or "ort" (``ort-fp32``, ``ort-int8``, ...): runners of one family share a thread pool."""
    return "ort" if backend.startswith("ort") else backend


def thread_settings(threads: int | None, method: str = "phased", ort_spinning: bool = True) -> dict[str, Any]:
    """What the timing ran with: PyTorch's intra/inter-op threads, ORT's, spinning, the method and the
    threading environment variables."""
    import torch

    return {"method": method, "torch_intra_op": torch.get_num_threads(),
            "torch_inter_op": torch.get_num_interop_threads(), "ort_intra_op": threads or "ORT default (all cores)",
            "ort_inter_op": 1 if threads else "ORT default", "ort_spinning": ort_spinning,
            "env": {name: os.environ[name] for name in THREAD_ENV if name in os.environ}}


def machine_info(threads: int) -> dict[str, Any]:
    """CPU model, cores, load, library versions and threads, for the report."""
    import onnxruntime
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": threads, "load_avg_1_5_15": list(os.getloadavg()),
            "python": platform.python_version(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "platform": platform.platform(),
            "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}


def _timed(runner: Runner, batch: np.ndarray) -> float:
    start = time.perf_counter()
    runner.call(batch)
    return time.perf_counter() - start


def time_round_robin(runners: list[Runner], batch: np.ndarray, rounds: int, warmup: int,
                     progress: bool, label: str, method: str = "phased", blocks: int = 3) -> list[list[float]]:
    """Seconds per call for each runner (``rounds`` each, in the order of ``runners``).

    ``method="phased"``: the rounds are split into ``blocks``; in each block every backend family has a
    phase (its runners warmed up once, then called round-robin) and the others are idle.
    ``"interleaved"``: every round calls every runner once, in turn, whatever its backend."""
    from tqdm.auto import tqdm

    from facetrust.console import progress_enabled

    progress = progress and progress_enabled()  # a bar only on a terminal, never redraws in a log
    if method not in METHODS:
        raise ValueError(f"unknown timing method {method!r}; choose one of {METHODS}")
    for runner in runners:
        for _ in range(warmup):
            runner.call(batch)
    times: list[list[float]] = [[] for _ in runners]
    if method == "interleaved":
        for _ in tqdm(range(rounds), desc=label, disable=not progress, leave=False):
            for i, runner in enumerate(runners):
                times[i].append(_timed(runner, batch))
        return times
    families: dict[str, list[int]] = {}
    for i, runner in enumerate(runners):
        families.setdefault(backend_family(runner.backend), []).append(i)
    blocks = max(1, min(blocks, rounds))
    sizes = [rounds // blocks + (b < rounds % blocks) for b in range(blocks)]
    bar = tqdm(total=rounds * len(runners), desc=label, disable=not progress, leave=False)
    for block, size in enumerate(sizes):
        for members in families.values():
            if block > 0 or len(families) > 1:  # wake this pool after the other backend's phase
                for i in members:
                    runners[i].call(batch)
            for _ in range(size):
                for i in members:
                    times[i].append(_timed(runners[i], batch))
                bar.update(len(members))
    bar.close()
    return times


def latency_record(seconds: list[float], batch: int) -> dict[str, float]:
    """p50/p95 milliseconds and images/s at the p50 of one runner's calls."""
    ms = np.asarray(seconds) * 1000.0
    p50 = float(np.percentile(ms, 50))
    return {"latency_ms_p50": round(p50, 3), "latency_ms_p95": round(float(np.percentile(ms, 95)), 3),
            "throughput_ips": round(batch * 1000.0 / p50, 2)}


def time_onnx_files(paths: dict[str, Path], batch: np.ndarray, rounds: int = 30, warmup: int = 3,
                    threads: int = 1) -> dict[str, float]:
    """Median milliseconds per call of each ONNX file on ``batch`` (``threads`` intra-op threads, one
    thread by default), round-robin so that load from other processes hits every model alike."""
    runners = [Runner(name, "ort", ort_call(make_session(path, threads=threads)), 0, 0.0)
               for name, path in paths.items()]
    feed = np.ascontiguousarray(batch, dtype=np.float32)
    times = time_round_robin(runners, feed, rounds, warmup, progress=False, label="onnx")
    return {runner.model: float(np.median(seconds)) * 1000.0 for runner, seconds in zip(runners, times, strict=True)}
