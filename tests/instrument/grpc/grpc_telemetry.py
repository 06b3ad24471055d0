"""Read what the interceptors recorded: finished spans and histogram points."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind


@dataclass
class Telemetry:
    """One SDK tracer and meter provider whose output the test can read."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    @property
    def providers(self) -> dict[str, Any]:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> tuple[ReadableSpan, ...]:
        """The finished spans once there are `count` (streams end on grpc's own threads)."""
        give_up = time.monotonic() + timeout
        while len(self.spans()) < count and time.monotonic() < give_up:
            time.sleep(0.005)
        spans = self.spans()
        assert len(spans) == count, [s.name for s in spans]
        return spans

    async def async_wait_for_spans(
        self, count: int, timeout: float = 10.0
    ) -> tuple[ReadableSpan, ...]:
        give_up = time.monotonic() + timeout
        while len(self.spans()) < count and time.monotonic() < give_up:
            await asyncio.sleep(0.005)
        spans = self.spans()
        assert len(spans) == count, [s.name for s in spans]
        return spans

    async def async_wait_for_calls(self, name: str, count: int, timeout: float = 10.0) -> None:
        """Wait until histogram `name` counts `count` calls (a server may record after replying)."""
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            if sum(p.count for p in self.histogram_points(name)) >= count:
                return
            await asyncio.sleep(0.005)

    def histogram_points(self, name: str) -> list[HistogramDataPoint]:
        data = self.reader.get_metrics_data()
        points: list[HistogramDataPoint] = []
        if data is None:
            return points
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        assert metric.unit == "ms"
                        points.extend(metric.data.data_points)  # type: ignore[arg-type]
        return points


def one(spans: Sequence[ReadableSpan], kind: SpanKind, name: str | None = None) -> ReadableSpan:
    """The single span of `kind` (and `name`)."""
    found = [s for s in spans if s.kind is kind and (name is None or s.name == name)]
    assert len(found) == 1, [(s.name, s.kind) for s in spans]
    return found[0]
