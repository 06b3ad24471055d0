"""A gRPC service traced with traceway.instrument, for the backend-down tests.

Prints its port, then serves until SIGTERM; the OTLP endpoint comes from OTEL_* variables.
``Stats`` answers, as JSON, what the OpenTelemetry SDK reports about its own span
pipeline (its self-metrics, on when OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED=true), how
many spans ended, and the resident memory. On SIGTERM it flushes, prints the same JSON
as its last line and exits.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.context import Context
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from traceway import instrument
from traceway.instrument.grpc import server_interceptor

SERVICE = "demo.Greeter"


class EndedSpans(SpanProcessor):
    """Counts the spans that ended: everything the batch processor was given."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self.count += 1


def greet(request: bytes, context: Any) -> bytes:
    with instrument.traced("compose greeting"):
        return b"hello " + request


def sdk_span_pipeline(reader: InMemoryMetricReader) -> dict[str, int]:
    """Sums of the SDK's span processor and exporter self-metrics, by outcome."""
    totals = {
        "handed_to_exporter": 0,
        "dropped_queue_full": 0,
        "exported": 0,
        "export_failed": 0,
        "queue_size": 0,
        "queue_capacity": 0,
    }
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    attributes = point.attributes or {}
                    value = int(getattr(point, "value", 0))
                    failed = "error.type" in attributes
                    if metric.name == "otel.sdk.processor.span.processed":
                        if attributes.get("error.type") == "queue_full":
                            totals["dropped_queue_full"] += value
                        elif not failed:
                            totals["handed_to_exporter"] += value
                    elif metric.name == "otel.sdk.exporter.span.exported":
                        totals["export_failed" if failed else "exported"] += value
                    elif metric.name == "otel.sdk.processor.span.queue.size":
                        totals["queue_size"] += value
                    elif metric.name == "otel.sdk.processor.span.queue.capacity":
                        totals["queue_capacity"] += value
    return totals


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ended = EndedSpans()
    reader = InMemoryMetricReader()
    instrumentation = instrument.configure(
        "greeter", span_processors=[ended], metric_readers=[reader]
    )

    def stats() -> bytes:
        report = {**sdk_span_pipeline(reader), "ended": ended.count, "rss_kib": rss_kib()}
        return json.dumps(report).encode()

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), interceptors=[server_interceptor()]
    )
    handlers = {
        "Greet": grpc.unary_unary_rpc_method_handler(greet),
        "Stats": grpc.unary_unary_rpc_method_handler(lambda request, context: stats()),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(port, flush=True)
    stopped.wait(120)
    server.stop(2).wait()
    instrumentation.force_flush()
    print(stats().decode(), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
