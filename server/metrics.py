"""Prometheus metrics: requests by route and status, and a latency histogram.

With several workers, ``gmid serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker starts, and
``/metrics`` merges every worker's figures from files (each update then costs a file-backed write);
with one worker the figures stay in that worker's memory.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from sanic import Request
from sanic.response import HTTPResponse

REQUESTS = Counter(
    "gmid_http_requests_total", "HTTP requests answered, by route and status.", ["route", "method", "status"]
)
LATENCY = Histogram(
    "gmid_http_request_duration_seconds",
    "Time from the request's arrival to its answer.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def route_label(request: Request) -> str:
    # The route's name, never the raw path: ids in paths would explode the label set.
    route = request.route
    return route.name if route is not None else "unmatched"


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(request: Request) -> str:
    # Made-up methods would each add a series: one label for all of them.
    return request.method if request.method in _METHODS else "OTHER"


def start(request: Request) -> None:
    request.ctx.started_at = time.perf_counter()


# labels() takes a lock and builds a key on every call: keep the children (bounded by routes x
# methods x statuses).
_request_children: dict[tuple[str, str, int], Any] = {}
_latency_children: dict[tuple[str, str], Any] = {}


def observe(request: Request, response: HTTPResponse) -> None:
    started = getattr(request.ctx, "started_at", None)
    label = route_label(request)
    method = method_label(request)
    key = (label, method, response.status)
    counter = _request_children.get(key)
    if counter is None:
        counter = _request_children[key] = REQUESTS.labels(label, method, str(response.status))
    counter.inc()
    if started is not None:
        histogram = _latency_children.get(key[:2])
        if histogram is None:
            histogram = _latency_children[key[:2]] = LATENCY.labels(label, method)
        histogram.observe(time.perf_counter() - started)


def render(extra: bytes = b"") -> HTTPResponse:
    """The exposition; ``extra`` is more of it, figures read at scrape time (from the database)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        payload = generate_latest(registry)
    else:
        payload = generate_latest()
    return HTTPResponse(payload + extra, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def gauge_text(name: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> bytes:
    """A gauge in the text format, written out: its value comes from the database at each scrape,
    the same whichever worker answers (a process-local gauge would not be)."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{inner}}} {value:g}")
    return ("\n".join(lines) + "\n").encode()
