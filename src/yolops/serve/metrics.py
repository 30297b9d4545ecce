"""Prometheus metrics of one server (its own registry, so that several apps in one
process, as in the tests, never share counters).

Names: ``yolops_http_requests_total`` and ``yolops_http_request_duration_seconds``
by route template, method and status; ``yolops_batch_size`` (images per inference
run); ``yolops_inference_seconds``; ``yolops_queue_depth`` (images waiting);
``yolops_images_total``; ``yolops_model_info`` (1 for the model and version
served); ``yolops_model_reloads_total`` by result; ``yolops_prediction_log_dropped_total``.

Plus what the default registry would carry and every Prometheus dashboard expects: the
process collector (``process_resident_memory_bytes``, ``process_cpu_seconds_total``,
``process_open_fds``, ``process_start_time_seconds``, ...; Linux), the GC collector
(``python_gc_collections_total``, ...) and ``python_info``.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)


class ServeMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.requests = Counter(
            "yolops_http_requests_total", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "yolops_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "yolops_batch_size", "Images per inference run", buckets=BATCH_BUCKETS, registry=r
        )
        self.inference = Histogram(
            "yolops_inference_seconds",
            "Seconds per inference run",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("yolops_queue_depth", "Images waiting for inference", registry=r)
        self.images = Counter("yolops_images_total", "Images predicted", registry=r)
        self.model_info = Gauge(
            "yolops_model_info",
            "1 for the model version being served",
            ["name", "version"],
            registry=r,
        )
        self.reloads = Counter(
            "yolops_model_reloads_total", "Model reloads", ["result"], registry=r
        )
        self.log_dropped = Counter(
            "yolops_prediction_log_dropped_total",
            "Prediction log entries dropped (queue full or write failed)",
            registry=r,
        )

    def set_model(self, name: str, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(name=name, version=version).set(1)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (``/v1/predict``,
    never the raw path, so that scanners cannot blow up the label set)."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            labels = (getattr(route, "path", None) or "<unmatched>", scope["method"], str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - start)
