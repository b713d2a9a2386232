"""Timing, in one place: every latency facetrust reports (``facetrust bench``, the demo's bench steps,
``facetrust export --precision auto``, the students frontier) comes from ``time_runners``.

Method ``"blocks"`` (default) times each (model, backend) the way a deployed process runs it: alone,
called again and again, with its own warm caches and thread pool. Measured on the 2-core machine
(2026-12-02): after every call, ONNX Runtime's intra-op worker spins waiting for more work (its
default), burning 40-48 ms of CPU, and PyTorch's OpenMP threads a few ms. Timing models call by call
in turn therefore runs each 3 ms student call beside the spinning worker of the model timed just
before (the ViT-B/16 teacher, or the student's other precision), on the same two cores: the
student's figure moved between 2.9 and 5.3 ms across two quiet demo runs while the teacher's held
(259 vs 264 ms). So:

- each runner is warmed up alone, and its per-call time sets its rounds: enough calls to fill
  ``budget_s`` (hundreds for a 3 ms student, the minimum ``rounds`` for a 260 ms teacher);
- the rounds are split into ``blocks``; in every block each runner has one stretch of consecutive
  calls, runners in a rotating order, so slow drifts in load (other processes) hit every model alike;
- before each stretch the process waits until the previous runner's threads stop spinning
  (``wait_for_idle_threads``: process CPU time measured across short sleeps), and a fast model gets
  ``wake_s`` of untimed calls to bring its caches back after a big model evicted them;
- every call is recorded per block, so a record carries its median, p10-p90, IQR and the spread of
  its block medians, and a speed-up its range over the blocks (``latency_record``, ``speedup``).

``"phased"`` (the previous method: a phase per backend, models call by call) and ``"interleaved"``
(every runner once per round) are kept for comparison. ``thread_settings`` records what was used.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facetrust.export.runtime import make_session

METHODS = ("blocks", "phased", "interleaved")
DEFAULT_METHOD = "blocks"
THREAD_ENV = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS", "KMP_BLOCKTIME", "GOMP_SPINCOUNT")
MAX_ROUNDS = 2000  # per runner: a budget never asks for more calls than this
WARM_S = 0.2  # the first warm-up lasts at least this long when rounds come from a budget
WAKE_S = 0.05  # untimed calls before each stretch of a runner faster than this


@dataclass
class Runner:
    """One (model, backend) to time: ``call(batch)`` runs it once."""

    model: str
    backend: str
    call: Callable[[np.ndarray], Any]
    params: int
    gflops: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Timing:
    """One runner's timed calls: ``blocks[b]`` are the seconds of its calls in block ``b`` (empty when it
    had no round there); ``estimate_s`` is the per-call time of its warm-up, which set its rounds."""

    blocks: list[list[float]]
    estimate_s: float = float("nan")

    @property
    def seconds(self) -> list[float]:
        return [s for block in self.blocks for s in block]


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


def thread_settings(threads: int | None, method: str = DEFAULT_METHOD, ort_spinning: bool = True,
                    **timing: Any) -> dict[str, Any]:
    """What the timing ran with: PyTorch's intra/inter-op threads, ORT's, spinning, the method, its
    parameters (``timing``: budget, blocks, ...) and the threading environment variables."""
    import torch

    return {"method": method, "torch_intra_op": torch.get_num_threads(),
            "torch_inter_op": torch.get_num_interop_threads(), "ort_intra_op": threads or "ORT default (all cores)",
            "ort_inter_op": 1 if threads else "ORT default", "ort_spinning": ort_spinning, **timing,
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


def plan_rounds(estimate_s: float, budget_s: float, min_rounds: int, max_rounds: int = MAX_ROUNDS) -> int:
    """Timed calls for a runner whose calls take ``estimate_s``: enough to fill ``budget_s`` seconds,
    at least ``min_rounds`` (which wins over ``max_rounds``), at most ``max_rounds``. No budget (0) or no
    estimate: ``min_rounds``."""
    if budget_s <= 0 or not estimate_s > 0:
        return min_rounds
    return max(min_rounds, min(max_rounds, math.ceil(budget_s / estimate_s)))


def spread_rounds(rounds: int, blocks: int) -> list[int]:
    """``rounds`` split as evenly as possible over ``blocks`` (sizes differ by at most one; a runner with
    fewer rounds than blocks has its rounds spread out, not bunched at the start)."""
    return [rounds * (b + 1) // blocks - rounds * b // blocks for b in range(blocks)]


def block_order(count: int, block: int) -> list[int]:
    """The runners' order in ``block``: rotated by one each block, so every runner takes every place in
    the block in turn (none is always timed first, or always last, while the load drifts)."""
    return [(block + k) % count for k in range(count)]


def wait_for_idle_threads(limit_s: float = 0.5, step_s: float = 0.01) -> float:
    """Sleep until this process's own threads stop burning CPU (ORT workers spin tens of ms after a
    call, OpenMP threads a few): until a ``step_s`` sleep costs under 10% of a core, at most ``limit_s``.
    Returns the seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        cpu = time.process_time()
        time.sleep(step_s)
        if time.process_time() - cpu < 0.1 * step_s:
            break
    return time.perf_counter() - start


def time_runners(runners: list[Runner], batch: np.ndarray, rounds: int, warmup: int, *, budget_s: float = 0.0,
                 blocks: int = 5, max_rounds: int = MAX_ROUNDS, warm_s: float = WARM_S, wake_s: float = WAKE_S,
                 settle: Callable[[], Any] | None = wait_for_idle_threads, clock: Callable[[], float] = time.perf_counter,
                 progress: bool = False, label: str = "timing") -> list[Timing]:
    """Method ``"blocks"``: each runner's calls in stretches of its own, ``rounds`` at least (more to fill
    ``budget_s`` seconds, at most ``max_rounds``), split over ``blocks`` blocks in a rotating order.

    Warm-up: ``warmup`` calls per runner, alone, lasting at least ``warm_s`` when a budget is set (the
    median of their second half is the runner's ``estimate_s``). Before each stretch ``settle()`` (the
    previous runner's threads stop spinning) and, for a runner faster than ``wake_s``, ``wake_s`` of
    untimed calls. ``clock`` and ``settle`` can be injected (tests)."""
    from tqdm.auto import tqdm

    from facetrust.console import progress_enabled

    settle = settle or (lambda: None)
    estimates = []
    for runner in runners:
        settle()
        durations: list[float] = []
        start = clock()
        while len(durations) < max_rounds and (len(durations) < warmup
                                               or (budget_s > 0 and clock() - start < warm_s)):
            durations.append(_timed(runner, batch, clock))
        estimates.append(float(np.median(durations[len(durations) // 2:])) if durations else float("nan"))
    plan = [plan_rounds(estimate, budget_s, rounds, max_rounds) for estimate in estimates]
    count = max(1, min(blocks, max(plan, default=1)))
    sizes = [spread_rounds(n, count) for n in plan]
    timings = [Timing([[] for _ in range(count)], estimate) for estimate in estimates]
    bar = tqdm(total=sum(plan), desc=label, disable=not (progress and progress_enabled()), leave=False)
    for block in range(count):
        for i in block_order(len(runners), block):
            if sizes[i][block] == 0:
                continue
            if len(runners) > 1:  # another runner ran before: let its threads go idle, bring back ours
                settle()
                if estimates[i] < wake_s:  # a fast model: its caches and pool back after the previous runner
                    start = clock()
                    while clock() - start < wake_s:
                        runners[i].call(batch)
            timings[i].blocks[block] = [_timed(runners[i], batch, clock) for _ in range(sizes[i][block])]
            bar.update(sizes[i][block])
    bar.close()
    return timings


def _timed(runner: Runner, batch: np.ndarray, clock: Callable[[], float] = time.perf_counter) -> float:
    start = clock()
    runner.call(batch)
    return clock() - start


def time_round_robin(runners: list[Runner], batch: np.ndarray, rounds: int, warmup: int,
                     progress: bool, label: str, method: str = DEFAULT_METHOD, blocks: int = 3,
                     **budget: Any) -> list[list[float]]:
    """Seconds per call for each runner (at least ``rounds`` each, in the order of ``runners``).

    ``method="blocks"``: ``time_runners`` (``budget`` passes ``budget_s``, ``max_rounds``, ... to it).
    ``"phased"``: the rounds are split into ``blocks``; in each block every backend family has a phase
    (its runners woken once, then called round-robin) and the others are idle.
    ``"interleaved"``: every round calls every runner once, in turn, whatever its backend."""
    from tqdm.auto import tqdm

    from facetrust.console import progress_enabled

    if method not in METHODS:
        raise ValueError(f"unknown timing method {method!r}; choose one of {METHODS}")
    if method == "blocks":
        timings = time_runners(runners, batch, rounds, warmup, blocks=blocks, progress=progress, label=label, **budget)
        return [timing.seconds for timing in timings]
    progress = progress and progress_enabled()  # a bar only on a terminal, never redraws in a log
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


def latency_record(seconds: list[float] | Timing, batch: int) -> dict[str, Any]:
    """Milliseconds of one runner's calls: p50 (the figure), p10/p90 and IQR (the spread), p95, images/s
    at the p50, the rounds; for a ``Timing`` also the median of each block and their spread
    ((max - min) / p50: how far the figure moved within the run)."""
    timing = seconds if isinstance(seconds, Timing) else None
    ms = np.asarray(timing.seconds if timing else seconds) * 1000.0
    p10, p25, p50, p75, p90, p95 = (float(v) for v in np.percentile(ms, [10, 25, 50, 75, 90, 95]))
    record: dict[str, Any] = {"latency_ms_p50": round(p50, 3), "latency_ms_p95": round(p95, 3),
                              "latency_ms_p10": round(p10, 3), "latency_ms_p90": round(p90, 3),
                              "latency_ms_iqr": round(p75 - p25, 3), "throughput_ips": round(batch * 1000.0 / p50, 2),
                              "rounds": int(ms.size)}
    if timing is not None:
        medians = [round(float(np.median(b)) * 1000.0, 3) if b else None for b in timing.blocks]
        present = [m for m in medians if m is not None]
        record["block_p50_ms"] = medians
        record["block_p50_spread"] = round((max(present) - min(present)) / p50, 4) if len(present) > 1 else None
    return record


def speedup(reference: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """``reference`` p50 / ``record`` p50 (how many times faster ``record`` is), and that ratio's range
    over the blocks both were timed in (``None`` when they share fewer than two)."""
    ratio = round(reference["latency_ms_p50"] / record["latency_ms_p50"], 2)
    pairs = [r / m for r, m in zip(reference.get("block_p50_ms") or [], record.get("block_p50_ms") or [], strict=False)
             if r is not None and m is not None]
    spread = [round(min(pairs), 2), round(max(pairs), 2)] if len(pairs) > 1 else None
    return {"speedup": ratio, "speedup_block_range": spread}


def time_onnx_files(paths: dict[str, Path], batch: np.ndarray, rounds: int = 30, warmup: int = 3,
                    threads: int = 1, budget_s: float = 0.3, blocks: int = 3) -> dict[str, float]:
    """Median milliseconds per call of each ONNX file on ``batch`` (``threads`` intra-op threads, one
    thread by default), each alone in its stretches (``time_runners``: at least ``rounds`` calls, more
    to fill ``budget_s``), blocks in turn so that load from other processes hits every model alike."""
    runners = [Runner(name, "ort", ort_call(make_session(path, threads=threads)), 0, 0.0)
               for name, path in paths.items()]
    feed = np.ascontiguousarray(batch, dtype=np.float32)
    timings = time_runners(runners, feed, rounds, warmup, budget_s=budget_s, blocks=blocks)
    return {runner.model: float(np.median(timing.seconds)) * 1000.0 for runner, timing in zip(runners, timings, strict=True)}
