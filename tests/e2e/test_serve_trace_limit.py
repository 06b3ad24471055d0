"""``traceway serve --max-trace-spans``: a trace bigger than the limit, sent by the
OpenTelemetry SDK over OTLP, comes back cut to its earliest spans and says so."""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.e2e.serve_process import ServeProcess, start_serve

CHILDREN = 11
LIMIT = 5
NOTICE = (
    f"trace has {CHILDREN + 1} spans; showing the first {LIMIT} by start time "
    "(the limit is traceway serve --max-trace-spans)"
)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    server = start_serve(tmp_path, tmp_path / "data", "--max-trace-spans", str(LIMIT))
    yield server
    server.kill()


def send_batch_job(serve: ServeProcess) -> str:
    """A root span and ``CHILDREN`` steps, each starting 1 ms after the one before;
    returns the trace id."""
    provider = TracerProvider(resource=Resource.create({"service.name": "batch-job"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(f"{serve.otlp_http}/v1/traces"))
    )
    tracer = provider.get_tracer("tests.batch")
    start = time.time_ns()
    root = tracer.start_span("run batch", start_time=start)
    with trace.use_span(root):
        for step in range(1, CHILDREN + 1):
            child = tracer.start_span(f"step {step}", start_time=start + step * 1_000_000)
            child.end(end_time=start + step * 1_000_000 + 500_000)
    root.end(end_time=start + (CHILDREN + 1) * 1_000_000)
    provider.shutdown()
    return format(root.get_span_context().trace_id, "032x")


def test_a_trace_over_the_limit_comes_back_cut_with_a_warning(serve: ServeProcess) -> None:
    trace_id = send_batch_job(serve)

    response = serve.get(f"/api/traces/{trace_id}")
    assert response.status_code == 200, response.text
    (found,) = response.json()["data"]
    assert [span["operationName"] for span in found["spans"]] == [
        "run batch", "step 1", "step 2", "step 3", "step 4",
    ]  # fmt: skip
    assert found["warnings"] == [NOTICE]

    (searched,) = serve.get("/api/traces", service="batch-job").json()["data"]
    assert (len(searched["spans"]), searched["warnings"]) == (LIMIT, [NOTICE])

    page = serve.get(f"/trace/{trace_id}")
    assert page.status_code == 200
    assert NOTICE in html.unescape(page.text)
    assert f'<dd id="trace-span-count">{CHILDREN + 1}</dd>' in page.text
