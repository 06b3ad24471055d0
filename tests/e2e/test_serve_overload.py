"""More traffic than the backend can take: "retry later", bounded memory, nothing lost."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource as SdkResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.e2e.serve_process import start_serve
from traceway.model import Resource, Span
from traceway.receivers.otlp_encode import encode_protobuf

pytestmark = pytest.mark.slow

SPANS_PER_EXPORT = 512
EXPORTS_PER_SENDER = 6
SENDERS = 6
RESOURCE = Resource({"service.name": "flood"})


def export_body(sender: int, number: int) -> bytes:
    trace_id = f"{sender:016x}{number:016x}"
    return encode_protobuf(
        Span(
            trace_id=trace_id,
            span_id=f"{i + 1:016x}",
            name="flood",
            start_time_unix_nano=1_700_000_000_000_000_000 + i,
            end_time_unix_nano=1_700_000_000_000_100_000 + i,
            attributes={"i": i, "payload": "x" * 64},
            resource=RESOURCE,
        )
        for i in range(SPANS_PER_EXPORT)
    )


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def test_overload_answers_retry_later_and_every_retried_span_lands(tmp_path: Path) -> None:
    serve = start_serve(tmp_path, tmp_path / "data", "--max-queue-spans", "600")
    refusals: list[str] = []
    failures: list[str] = []

    def sender(number: int) -> None:
        with httpx.Client(timeout=30) as client:
            for export in range(EXPORTS_PER_SENDER):
                body = export_body(number, export)
                for _attempt in range(200):
                    response = client.post(
                        f"{serve.otlp_http}/v1/traces",
                        content=body,
                        headers={"Content-Type": "application/x-protobuf"},
                    )
                    if response.status_code == 200:
                        break
                    if response.status_code != 503:
                        failures.append(f"{response.status_code} {response.text}")
                        return
                    refusals.append(response.headers["Retry-After"])
                    # Retry soon rather than after Retry-After, to keep the queue full.
                    threading.Event().wait(0.01)
                else:
                    failures.append(f"export {number}/{export} never accepted")

    try:
        threads = [threading.Thread(target=sender, args=(n,)) for n in range(1, SENDERS + 1)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            # Queries keep answering while ingest is refused.
            assert serve.get("/api/services").status_code == 200
            threading.Event().wait(0.05)
        assert failures == []
        assert refusals, "the queue never filled; the test did not overload anything"
        assert all(value.isdigit() and int(value) >= 1 for value in refusals)
        for number in range(1, SENDERS + 1):
            for export in range(EXPORTS_PER_SENDER):
                trace = serve.get(f"/api/traces/{number:016x}{export:016x}").json()["data"][0]
                assert len(trace["spans"]) == SPANS_PER_EXPORT
        assert peak_rss_kib(serve.process.pid) < 1024 * 1024
    finally:
        serve.stop()


def test_sdk_exporter_retries_land_every_span_under_overload(tmp_path: Path) -> None:
    serve = start_serve(tmp_path, None, "--max-queue-spans", "300")
    try:
        providers = []
        for n in range(4):
            provider = TracerProvider(resource=SdkResource.create({"service.name": f"sdk-{n}"}))
            exporter = OTLPSpanExporter(endpoint=f"{serve.otlp_http}/v1/traces", timeout=30)
            provider.add_span_processor(
                BatchSpanProcessor(exporter, max_export_batch_size=256, schedule_delay_millis=10)
            )
            providers.append(provider)
        for provider in providers:
            tracer = provider.get_tracer("overload")
            for i in range(1_000):
                tracer.start_span(f"work {i % 7}").end()
        threads = [threading.Thread(target=p.force_flush, args=(60_000,)) for p in providers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for n, provider in enumerate(providers):
            provider.shutdown()
            found = serve.get("/api/traces", service=f"sdk-{n}", limit=1500, lookback="1h").json()
            assert len(found["data"]) == 1_000
    finally:
        serve.stop()
