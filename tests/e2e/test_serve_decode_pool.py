"""``traceway serve --decode-workers N``: exports decoded in worker processes, end to end.

Real OpenTelemetry SDK exporters and raw OTLP bodies go to a ``traceway serve``
subprocess whose large exports are decoded by worker processes; the traces read back
through the API, broken bodies are refused as without workers, a killed worker loses
no export, and no worker outlives the server.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.e2e.serve_process import ServeProcess, start_serve
from tests.processes import child_pids
from traceway.model import Span
from traceway.receivers.otlp_decode import OtlpDecodeError, decode_protobuf
from traceway.receivers.otlp_encode import encode_protobuf

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

WORKERS = 2


def exists(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def wait_for(condition: object, timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def workers_of(serve: ServeProcess) -> list[int]:
    assert wait_for(lambda: len(child_pids(serve.process.pid)) == WORKERS)
    return child_pids(serve.process.pid)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    server = start_serve(tmp_path, tmp_path / "data", "--decode-workers", str(WORKERS))
    yield server
    server.kill()


def sdk_spans(service: str, count: int) -> tuple[ReadableSpan, ...]:
    """``count`` finished spans of one trace, with enough attributes to pass 64 KiB and a
    list value, which the C decoder leaves to the workers."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.decode_pool")
    with tracer.start_as_current_span("batch"):
        for number in range(count - 1):
            with tracer.start_as_current_span(
                f"step {number}",
                attributes={
                    "step": number,
                    "payload": "x" * 200,
                    "ok": True,
                    "ratio": 0.25,
                    "tags": ("a", "b"),  # a list: the C decoder leaves the body to a worker
                },
            ):
                pass
    return memory.get_finished_spans()


def raw_spans(count: int, export: int) -> list[Span]:
    """``count`` spans in traces of 100; the first trace's id is ``trace_of(export)``."""
    return [
        Span(
            trace_id=f"{export:016x}{number // 100 + 1:016x}",
            span_id=f"{export << 32 | number + 1:016x}",
            name=f"work {number % 10}",
            start_time_unix_nano=1_750_000_000_000_000_000 + number,
            end_time_unix_nano=1_750_000_000_000_001_000 + number,
            attributes={
                "http.method": "GET",
                "order.id": number,
                "note": "y" * 50,
                "tags": ["a", "b"],  # a list: the C decoder leaves the body to a worker
            },
        )
        for number in range(count)
    ]


def trace_of(export: int) -> str:
    return f"{export:016x}{1:016x}"


def trace_size(serve: ServeProcess, trace_id: str) -> int:
    response = serve.get(f"/api/traces/{trace_id}")
    if response.status_code != 200:
        return 0
    return len(response.json()["data"][0]["spans"])


def post(serve: ServeProcess, body: bytes) -> httpx.Response:
    return httpx.post(
        f"{serve.otlp_http}/v1/traces",
        content=body,
        headers={"Content-Type": "application/x-protobuf"},
        timeout=120,
    )


def test_sdk_exports_over_http_and_grpc_are_decoded_by_workers(serve: ServeProcess) -> None:
    assert len(workers_of(serve)) == WORKERS
    for exporter, service in (
        (HttpSpanExporter(endpoint=f"{serve.otlp_http}/v1/traces"), "over-http"),
        (GrpcSpanExporter(endpoint=f"http://{serve.otlp_grpc}", insecure=True), "over-grpc"),
    ):
        spans = sdk_spans(service, 400)
        assert len(encode_protobuf_of(spans)) > 64 * 1024  # large enough for the workers
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        exporter.shutdown()
        trace_id = f"{spans[0].context.trace_id:032x}"
        assert trace_size(serve, trace_id) == 400
        assert serve.get("/api/services").json()["data"].count(service) == 1


def encode_protobuf_of(spans: tuple[ReadableSpan, ...]) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return encode_spans(spans).SerializeToString()


def test_a_malformed_large_body_is_refused_with_the_reason(serve: ServeProcess) -> None:
    body = b"\xff" * 100_000
    response = post(serve, body)
    assert response.status_code == 400
    status = status_pb2.Status.FromString(response.content)
    with pytest.raises(OtlpDecodeError) as inline:
        decode_protobuf(body)
    assert status.message == str(inline.value)


def test_a_killed_worker_loses_no_export(serve: ServeProcess) -> None:
    workers = workers_of(serve)
    # Killed between exports: the next export is decoded by a new worker.
    os.kill(workers[0], signal.SIGKILL)
    assert post(serve, encode_protobuf(raw_spans(500, 1))).status_code == 200
    # Killed in the middle of decoding a large export: it is decoded again.
    body = encode_protobuf(raw_spans(30_000, 2))
    killer = threading.Thread(target=kill_a_busy_worker, args=(serve,), daemon=True)
    killer.start()
    assert post(serve, body).status_code == 200
    killer.join()
    assert wait_for(lambda: trace_size(serve, trace_of(1)) == 100)
    assert wait_for(lambda: trace_size(serve, trace_of(2)) == 100)
    assert wait_for(lambda: trace_size(serve, f"{2:016x}{300:016x}") == 100)
    now = workers_of(serve)
    assert len(set(now) - set(workers)) >= 1
    assert not any(exists(pid) for pid in set(workers) - set(now))


def kill_a_busy_worker(serve: ServeProcess) -> None:
    """SIGKILL the first worker seen using 50 ms of CPU on a body."""
    baseline: dict[int, int] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for pid in child_pids(serve.process.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks = int(fields[11]) + int(fields[12])
            if baseline.setdefault(pid, ticks) + 5 <= ticks:
                os.kill(pid, signal.SIGKILL)
                return
        time.sleep(0.005)


def test_stopping_the_server_stops_its_workers(serve: ServeProcess) -> None:
    workers = workers_of(serve)
    assert post(serve, encode_protobuf(raw_spans(500, 3))).status_code == 200
    out = serve.stop(signal.SIGTERM)
    assert serve.process.returncode == 0, out
    assert "2 worker processes" in out
    assert not any(exists(pid) for pid in workers)


def test_workers_exit_by_themselves_when_the_server_is_killed(serve: ServeProcess) -> None:
    workers = workers_of(serve)
    serve.stop(signal.SIGKILL)
    assert wait_for(lambda: not any(exists(pid) for pid in workers), timeout_s=20)
