"""Every acknowledged export survives a graceful stop and a ``kill -9``."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.serve_process import ServeProcess, start_serve
from traceway.model import Resource, Span
from traceway.receivers.otlp_encode import encode_protobuf

pytestmark = pytest.mark.slow

SPANS_PER_EXPORT = 50
RESOURCE = Resource({"service.name": "durability"})


def export_body(trace_number: int) -> bytes:
    trace_id = f"{trace_number:032x}"
    return encode_protobuf(
        Span(
            trace_id=trace_id,
            span_id=f"{i + 1:016x}",
            parent_span_id="" if i == 0 else "0000000000000001",
            name=f"step {i}",
            start_time_unix_nano=1_700_000_000_000_000_000 + i,
            end_time_unix_nano=1_700_000_000_000_001_000 + i,
            resource=RESOURCE,
        )
        for i in range(SPANS_PER_EXPORT)
    )


class Exporter(threading.Thread):
    """Posts one trace per export until stopped; remembers which ones were acknowledged."""

    def __init__(self, serve: ServeProcess, first_trace: int) -> None:
        super().__init__(daemon=True)
        self.url = f"{serve.otlp_http}/v1/traces"
        self.next_trace = first_trace
        self.acknowledged: list[int] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            deadline = time.monotonic() + 30
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                try:
                    response = client.post(
                        self.url,
                        content=export_body(self.next_trace),
                        headers={"Content-Type": "application/x-protobuf"},
                    )
                except httpx.HTTPError:
                    return
                if response.status_code == 200:
                    self.acknowledged.append(self.next_trace)
                self.next_trace += 1


def ingest_then_stop(serve: ServeProcess, sig: int, after_s: float) -> list[int]:
    exporters = [Exporter(serve, first_trace=1 + n * 1_000_000) for n in range(3)]
    for exporter in exporters:
        exporter.start()
    time.sleep(after_s)
    serve.process.send_signal(sig)
    serve.process.communicate(timeout=30)
    for exporter in exporters:
        exporter.stop_event.set()
        exporter.join(timeout=30)
    return [trace for exporter in exporters for trace in exporter.acknowledged]


def assert_all_stored(tmp_path: Path, data_dir: Path, acknowledged: list[int]) -> None:
    assert acknowledged, "no export was acknowledged before the stop"
    again = start_serve(tmp_path, data_dir)
    try:
        missing = [
            trace
            for trace in acknowledged
            if len(again.get(f"/api/traces/{trace:032x}").json().get("data") or [[]]) != 1
        ]
        assert missing == []
        for trace in acknowledged[:: max(1, len(acknowledged) // 10)]:
            spans = again.get(f"/api/traces/{trace:032x}").json()["data"][0]["spans"]
            assert len(spans) == SPANS_PER_EXPORT
    finally:
        again.stop()


def test_sigterm_during_ingest_commits_everything_acknowledged(
    serve: ServeProcess, tmp_path: Path
) -> None:
    acknowledged = ingest_then_stop(serve, signal.SIGTERM, after_s=1.5)
    assert serve.process.returncode == 0
    assert serve.data_dir is not None
    assert_all_stored(tmp_path, serve.data_dir, acknowledged)


def test_kill_9_at_several_moments_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    acknowledged: list[int] = []
    for after_s in (0.7, 1.3, 2.1):
        serve = start_serve(tmp_path, data_dir)
        acknowledged += ingest_then_stop(serve, signal.SIGKILL, after_s=after_s)
        assert serve.process.returncode == -signal.SIGKILL
    assert_all_stored(tmp_path, data_dir, acknowledged)
