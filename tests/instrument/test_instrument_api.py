"""The public surface of traceway.instrument and traceway.testing."""

from __future__ import annotations

import os
import subprocess
import sys

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import traceway.instrument
import traceway.testing
from traceway.instrument._exporters import ProcessLocalSpanExporter

INSTRUMENT_API = {
    "AsyncTracingTransport",
    "ConfigurationError",
    "Instrumentation",
    "JsonFormatter",
    "LogFormat",
    "TextFormatter",
    "Traced",
    "TracingMiddleware",
    "TracingTransport",
    "configure",
    "install_log_record_factory",
    "instrument_asgi",
    "instrument_httpx",
    "instrument_logging",
    "record_error",
    "traced",
}


def test_instrument_public_names_are_exactly_these_and_all_resolve() -> None:
    assert set(traceway.instrument.__all__) == INSTRUMENT_API
    for name in INSTRUMENT_API:
        assert getattr(traceway.instrument, name) is not None


def test_testing_public_names() -> None:
    assert set(traceway.testing.__all__) == {"CapturedSpans", "SpanTree", "capture_spans", "spans"}


def test_a_grpc_only_service_does_not_import_starlette_or_httpx() -> None:
    code = (
        "import sys, traceway.instrument; print(sorted({'starlette', 'httpx'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_process_local_exporter_is_rebuilt_in_a_forked_child() -> None:
    built_in: list[int] = []

    def factory() -> InMemorySpanExporter:
        built_in.append(os.getpid())
        return InMemorySpanExporter()

    exporter = ProcessLocalSpanExporter(factory)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report where its exporter was built, then leave at once
        exporter.export([])
        os.write(write_end, f"{built_in[-1]} {os.getpid()}".encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    built_pid, child_pid = map(int, os.read(read_end, 100).split())
    os.close(read_end)

    assert built_pid == child_pid
    assert built_in == [os.getpid()]  # the parent's exporter is untouched
