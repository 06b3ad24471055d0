"""The exporters configure() puts behind its processors: OTLP (gRPC or HTTP) made safe
for forked workers, and a one-line console exporter.

The SDK's batch processor and metric reader restart their threads after ``fork()``, but
an OTLP exporter built in the parent keeps the parent's gRPC channel (or HTTP connection
pool), which a child must not use. The process-local wrappers below build a fresh
exporter the first time they are used in a new process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult

from traceway.instrument._settings import OTLPProtocol

__all__ = [
    "ProcessLocalMetricExporter",
    "ProcessLocalSpanExporter",
    "console_span_exporter",
    "otlp_metric_exporter",
    "otlp_span_exporter",
]


class ProcessLocalSpanExporter(SpanExporter):
    """Delegates to an exporter built in the current process (rebuilt after a fork)."""

    def __init__(self, factory: Callable[[], SpanExporter]) -> None:
        self._factory = factory
        self._pid = os.getpid()
        self._exporter = factory()

    @property
    def exporter(self) -> SpanExporter:
        # The batch processor serialises export calls, so no lock is needed (and a lock
        # inherited mid-export from the parent would deadlock the child).
        if self._pid != os.getpid():
            self._exporter = self._factory()
            self._pid = os.getpid()
        return self._exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export(spans)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.exporter.shutdown()


class ProcessLocalMetricExporter(MetricExporter):
    """Delegates to a metric exporter built in the current process (rebuilt after a fork)."""

    def __init__(self, factory: Callable[[], MetricExporter]) -> None:
        self._factory = factory
        self._pid = os.getpid()
        self._exporter = factory()
        # The SDK's periodic reader reads these two from its exporter in the same way.
        super().__init__(
            preferred_temporality=self._exporter._preferred_temporality,
            preferred_aggregation=self._exporter._preferred_aggregation,
        )

    @property
    def exporter(self) -> MetricExporter:
        if self._pid != os.getpid():
            self._exporter = self._factory()
            self._pid = os.getpid()
        return self._exporter

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        return self.exporter.export(metrics_data, timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.exporter.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.exporter.shutdown(timeout_millis=timeout_millis, **kwargs)


def otlp_span_exporter(
    protocol: OTLPProtocol,
    endpoint: str,
    headers: Mapping[str, str] | None,
    meter_provider: MeterProvider | None = None,
) -> SpanExporter:
    """The SDK's OTLP span exporter for ``protocol``; it reads the other OTEL_EXPORTER_OTLP_*
    and records its own metrics in ``meter_provider`` (when the SDK's are enabled)."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter(
            endpoint=endpoint,
            headers=dict(headers) if headers else None,
            meter_provider=meter_provider,
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter(endpoint=endpoint, headers=headers, meter_provider=meter_provider)


def otlp_metric_exporter(
    protocol: OTLPProtocol, endpoint: str, headers: Mapping[str, str] | None
) -> MetricExporter:
    """The SDK's OTLP metric exporter for ``protocol``."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        return GrpcMetricExporter(endpoint=endpoint, headers=dict(headers) if headers else None)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetricExporter,
    )

    return HttpMetricExporter(endpoint=endpoint, headers=headers)


def _one_line(span: ReadableSpan) -> str:
    context = span.get_span_context()
    trace_id = format(context.trace_id, "032x") if context else ""
    span_id = format(context.span_id, "016x") if context else ""
    parent = span.parent
    duration_ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    service = span.resource.attributes.get("service.name", "")
    return (
        f"[{service}] {span.name} {duration_ms:.1f}ms status={span.status.status_code.name}"
        f" trace_id={trace_id} span_id={span_id}"
        f" parent_id={format(parent.span_id, '016x') if parent else ''}\n"
    )


def console_span_exporter() -> SpanExporter:
    """Prints one line per finished span to stderr, for a developer watching a terminal."""
    return ConsoleSpanExporter(out=sys.stderr, formatter=_one_line)
