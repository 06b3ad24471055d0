"""configure() lets the SDK count, in the service's own metrics, the spans it drops."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from tests.instrument.otlp_receiver import OTLPReceiver
from traceway.instrument import Instrumentation, configure

QUEUE_SIZE = 8
SPANS = 60


@pytest.fixture
def sdk_metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", str(QUEUE_SIZE))
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.5")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A 127.0.0.1 port nobody listens on (held bound, never listening)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


def _span_pipeline(reader: InMemoryMetricReader) -> dict[tuple[str, str | None], int]:
    """Sum of each otel.sdk.* counter, by metric name and error.type."""
    totals: dict[tuple[str, str | None], int] = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name in (
                    "otel.sdk.processor.span.processed",
                    "otel.sdk.exporter.span.exported",
                ):
                    for point in metric.data.data_points:
                        error = (point.attributes or {}).get("error.type")
                        key = (metric.name, None if error is None else str(error))
                        totals[key] = totals.get(key, 0) + int(getattr(point, "value", 0))
    return totals


def _configured(service: str, endpoint: str) -> tuple[InMemoryMetricReader, Instrumentation]:
    """A non-global ``configure()`` whose metrics, the SDK's own included, ``reader`` reads."""
    reader = InMemoryMetricReader()
    instrumentation = configure(
        service, endpoint=endpoint, metrics=False, metric_readers=[reader], set_global=False
    )
    return reader, instrumentation


def _end_spans(instrumentation: Instrumentation) -> None:
    tracer = instrumentation.tracer_provider.get_tracer("test")
    for i in range(SPANS):
        tracer.start_span(f"work {i}").end()


@pytest.mark.usefixtures("sdk_metrics_on")
def test_spans_dropped_or_not_delivered_are_counted_in_the_services_meter_provider(
    closed_port: int,
) -> None:
    reader, instrumentation = _configured("lonely", f"http://127.0.0.1:{closed_port}")
    try:
        _end_spans(instrumentation)
        instrumentation.force_flush()
        totals = _span_pipeline(reader)
    finally:
        instrumentation.shutdown()
    processed = "otel.sdk.processor.span.processed"
    exported = "otel.sdk.exporter.span.exported"
    dropped = totals.get((processed, "queue_full"), 0)
    handed = totals.get((processed, None), 0)
    assert dropped > 0
    # Every span is handed on or counted as dropped. The SDK may count a span as dropped
    # and still queue it, when its worker empties the full queue between the check and
    # the append, so the sum can exceed SPANS.
    assert handed < SPANS <= handed + dropped
    assert totals.get((exported, None), 0) == 0
    assert sum(n for (name, error), n in totals.items() if name == exported and error) == handed


@pytest.mark.usefixtures("sdk_metrics_on")
def test_delivered_spans_are_counted_without_an_error_type(otlp_receiver: OTLPReceiver) -> None:
    reader, instrumentation = _configured("served", otlp_receiver.endpoint)
    try:
        tracer = instrumentation.tracer_provider.get_tracer("test")
        for i in range(QUEUE_SIZE // 2):
            tracer.start_span(f"work {i}").end()
        instrumentation.force_flush()
        totals = _span_pipeline(reader)
    finally:
        instrumentation.shutdown()
    assert totals == {
        ("otel.sdk.processor.span.processed", None): QUEUE_SIZE // 2,
        ("otel.sdk.exporter.span.exported", None): QUEUE_SIZE // 2,
    }


def test_the_sdk_counts_nothing_unless_its_metrics_are_enabled(
    monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    monkeypatch.delenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.5")
    reader, instrumentation = _configured("quiet", f"http://127.0.0.1:{closed_port}")
    try:
        _end_spans(instrumentation)
        instrumentation.force_flush()
        assert _span_pipeline(reader) == {}
    finally:
        instrumentation.shutdown()
