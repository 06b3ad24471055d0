"""A read-only or full data directory: a clear refusal at start, "retry later" when full.

Root ignores file modes, so the directories are real tmpfs mounts (read-only, or
a few MiB); the tests skip when this process may not mount.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import httpx
import pytest

from tests.e2e.serve_process import ServeProcess, start_serve
from traceway.model import Resource, Span
from traceway.receivers.otlp_encode import encode_protobuf

pytestmark = pytest.mark.slow

RESOURCE = Resource({"service.name": "disk"})
SPANS_PER_EXPORT = 50
EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _mount(directory: Path, options: str) -> None:
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")


@contextmanager
def tmpfs(directory: Path, options: str) -> Iterator[Path]:
    """``directory`` as a fresh tmpfs with ``options``, unmounted afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    _mount(directory, options)
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False, timeout=30)


def export_body(trace_number: int) -> bytes:
    return encode_protobuf(
        Span(
            trace_id=f"{trace_number:032x}",
            span_id=f"{i + 1:016x}",
            name=f"step {i}",
            start_time_unix_nano=1_700_000_000_000_000_000 + trace_number * 1000 + i,
            end_time_unix_nano=1_700_000_000_000_000_500 + trace_number * 1000 + i,
            attributes={"payload": f"{trace_number}-{i}-" * 100},
            resource=RESOURCE,
        )
        for i in range(SPANS_PER_EXPORT)
    )


def test_a_read_only_data_directory_is_refused_in_one_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "size=2m,ro") as data_dir:
        result = subprocess.run(
            [sys.executable, "-m", "traceway.cli", "serve", "--data-dir", str(data_dir),
             "--otlp-grpc-port", "0", "--otlp-http-port", "0", "--port", "0",
             "--jaeger-thrift-http-port", "off", "--zipkin-port", "off",
             "--jaeger-agent-compact-port", "off", "--jaeger-agent-binary-port", "off"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip
    assert result.returncode == 1
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("traceway: cannot open trace store")
    assert "Read-only file system" in lines[0]


def _fill(serve: ServeProcess) -> tuple[list[int], httpx.Response]:
    """Export until the disk is full; the acknowledged traces and the first refusal."""
    acknowledged: list[int] = []
    deadline = time.monotonic() + 60
    with httpx.Client(timeout=30) as client:
        for number in range(1, 10_000):
            response = client.post(
                f"{serve.otlp_http}/v1/traces", content=export_body(number), headers=PROTOBUF
            )
            if response.status_code != 200:
                return acknowledged, response
            acknowledged.append(number)
            assert time.monotonic() < deadline, "the disk did not fill up"
    raise AssertionError("the disk did not fill up")


def _grpc_export(serve: ServeProcess, body: bytes) -> grpc.StatusCode:
    with grpc.insecure_channel(serve.otlp_grpc) as channel:
        try:
            channel.unary_unary(EXPORT_METHOD)(body, timeout=30)
        except grpc.RpcError as error:
            code: grpc.StatusCode = error.code()
            return code
    return grpc.StatusCode.OK


def _missing(serve: ServeProcess, traces: list[int]) -> list[int]:
    return [
        number
        for number in traces
        if len(
            (serve.get(f"/api/traces/{number:032x}").json().get("data") or [{"spans": []}])[0][
                "spans"
            ]
        )
        != SPANS_PER_EXPORT
    ]


def test_a_full_disk_answers_retry_later_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "size=3m") as data_dir:
        serve = start_serve(tmp_path, data_dir)
        try:
            acknowledged, refusal = _fill(serve)
            assert acknowledged, "the disk was full before the first export"
            assert refusal.status_code == 503
            assert "Retry-After" in refusal.headers
            assert _grpc_export(serve, export_body(99_999)) == grpc.StatusCode.UNAVAILABLE

            # Still serving: queries answer from what was stored.
            assert serve.process.poll() is None
            assert serve.get("/api/services").json()["data"] == ["disk"]
            assert _missing(serve, acknowledged[-3:]) == []
        finally:
            output = serve.stop()
        assert "Traceback" not in output, output

        # More room, as after cleaning up the disk: the file opens, nothing is lost.
        subprocess.run(["mount", "-o", "remount,size=64m", str(data_dir)], check=True, timeout=30)
        again = start_serve(tmp_path, data_dir)
        try:
            assert _missing(again, acknowledged) == []
            response = httpx.post(
                f"{again.otlp_http}/v1/traces",
                content=export_body(99_999),
                headers=PROTOBUF,
                timeout=30,
            )
            assert response.status_code == 200
        finally:
            again.stop()
