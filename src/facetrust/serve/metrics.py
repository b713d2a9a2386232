"""Prometheus text exposition (format 0.0.4) for requests, errors and latency per endpoint.

Small enough to write by hand: counters keyed by labels and one latency histogram with cumulative
``_bucket{le=...}``, ``_sum`` and ``_count`` series, as Prometheus expects.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _labels(pairs: dict[str, str]) -> str:
    escaped = (f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
               for k, v in pairs.items())
    return "{" + ",".join(escaped) + "}"


class Metrics:
    """Thread-safe counters and a latency histogram; ``render()`` gives the /metrics body."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.errors: dict[tuple[str, int], int] = defaultdict(int)
        self.bucket_counts: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = defaultdict(float)
        self.gauges: dict[str, float] = {}

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Record one finished request (any status; 4xx/5xx also count as errors)."""
        with self._lock:
            self.requests[(endpoint, method, status)] += 1
            if status >= 400:
                self.errors[(endpoint, status)] += 1
            counts = self.bucket_counts.setdefault(endpoint, [0] * (len(self.buckets) + 1))
            counts[bisect.bisect_left(self.buckets, seconds)] += 1  # last slot = +Inf only
            self.latency_sum[endpoint] += seconds

    def render(self) -> str:
        lines = [
            "# HELP facetrust_requests_total HTTP requests and WebSocket frames handled.",
            "# TYPE facetrust_requests_total counter",
        ]
        with self._lock:
            for (endpoint, method, status), n in sorted(self.requests.items()):
                lines.append(f"facetrust_requests_total{_labels({'endpoint': endpoint, 'method': method, 'status': str(status)})} {n}")
            lines += ["# HELP facetrust_errors_total Requests answered with a 4xx or 5xx status.",
                      "# TYPE facetrust_errors_total counter"]
            for (endpoint, status), n in sorted(self.errors.items()):
                lines.append(f"facetrust_errors_total{_labels({'endpoint': endpoint, 'status': str(status)})} {n}")
            lines += ["# HELP facetrust_request_duration_seconds Time from request to response.",
                      "# TYPE facetrust_request_duration_seconds histogram"]
            for endpoint, counts in sorted(self.bucket_counts.items()):
                cumulative = 0
                for le, count in zip((*map(str, self.buckets), "+Inf"), counts, strict=True):
                    cumulative += count
                    lines.append(f"facetrust_request_duration_seconds_bucket{_labels({'endpoint': endpoint, 'le': le})} {cumulative}")
                lines.append(f"facetrust_request_duration_seconds_sum{_labels({'endpoint': endpoint})} {self.latency_sum[endpoint]:.6f}")
                lines.append(f"facetrust_request_duration_seconds_count{_labels({'endpoint': endpoint})} {cumulative}")
            for name, value in sorted(self.gauges.items()):
                lines += [f"# TYPE facetrust_{name} gauge", f"facetrust_{name} {value:g}"]
        return "\n".join(lines) + "\n"
