"""A read-only or full data directory: a clear refusal at start, "retry later" when full,
and retention that fails without harm on a full disk and resumes once there is room.

Root ignores file modes, so the directories are real tmpfs mounts (read-only, or
a few MiB); the tests skip when this process may not mount.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
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


DAY_NS = 24 * 3600 * 10**9


def timed_export_body(trace_number: int, start_ns: int) -> bytes:
    return encode_protobuf(
        Span(
            trace_id=f"{trace_number:032x}",
            span_id=f"{i + 1:016x}",
            name=f"step {i}",
            start_time_unix_nano=start_ns + i * 1000,
            end_time_unix_nano=start_ns + i * 1000 + 500,
            attributes={"payload": f"{trace_number}-{i}-" * 20},
            resource=RESOURCE,
        )
        for i in range(SPANS_PER_EXPORT)
    )


def fill_up(directory: Path) -> Path:
    """Write a file that takes every free byte of ``directory``'s filesystem."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, bytes(chunk))
            except OSError:
                pass
    finally:
        os.close(fd)
    assert os.statvfs(directory).f_bavail == 0
    return filler


class Output:
    """The lines a running ``traceway serve`` prints, read as they come."""

    def __init__(self, serve: ServeProcess) -> None:
        self.lines: list[str] = []
        self._serve = serve
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._serve.process.stdout is not None
        for line in self._serve.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def matching(self, text: str) -> list[str]:
        return [line for line in self.lines if text in line]

    def wait_for(self, text: str, count: int = 1, timeout_s: float = 30) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while len(found := self.matching(text)) < count:
            assert self._serve.process.poll() is None, "\n".join(self.lines)
            assert time.monotonic() < deadline, f"no {text!r} in:\n" + "\n".join(self.lines)
            time.sleep(0.05)
        return found

    def stop(self) -> str:
        """SIGTERM, wait for the exit, and return everything printed."""
        self._serve.process.send_signal(signal.SIGTERM)
        self._serve.process.wait(timeout=30)
        self._reader.join(timeout=30)
        return "\n".join(self.lines)


def _post(serve: ServeProcess, body: bytes) -> httpx.Response:
    return httpx.post(f"{serve.otlp_http}/v1/traces", content=body, headers=PROTOBUF, timeout=30)


@pytest.mark.parametrize(
    "limit", [("--retention", "2d"), ("--max-db-size", "64KiB")], ids=["age", "size"]
)
def test_retention_on_a_full_disk_harms_nothing_and_resumes_once_there_is_room(
    tmp_path: Path, limit: tuple[str, str]
) -> None:
    now = time.time_ns()
    old, recent = list(range(1, 11)), list(range(101, 111))
    with tmpfs(tmp_path / "full", "size=16m") as data_dir:
        serve = start_serve(tmp_path, data_dir)
        try:
            for number in old:
                assert _post(serve, timed_export_body(number, now - 3 * DAY_NS)).status_code == 200
            for number in recent:
                assert _post(serve, timed_export_body(number, now - 10**9)).status_code == 200
        finally:
            serve.stop()

        filler = fill_up(data_dir)
        serve = start_serve(tmp_path, data_dir, *limit)
        output = Output(serve)
        try:
            # The disk is full: every round fails, is logged in one line, and is retried.
            failures = output.wait_for("retention round failed", count=2)
            assert all("No space left on device" in line for line in failures), failures
            assert serve.process.poll() is None
            missing = _missing(serve, old + recent)
            assert missing == [], f"a failed deletion took spans of traces {missing}"
            assert serve.get("/api/services").json()["data"] == ["disk"]
            refusal = _post(serve, timed_export_body(201, now))
            assert refusal.status_code == 503
            assert "Retry-After" in refusal.headers
            assert _grpc_export(serve, timed_export_body(202, now)) == grpc.StatusCode.UNAVAILABLE

            # Room again: the next round deletes the old traces, keeps the recent ones,
            # and ingest is accepted.
            filler.unlink()
            output.wait_for("retention round succeeded after")
            assert [n for n in old if serve.get(f"/api/traces/{n:032x}").status_code != 404] == []
            assert _missing(serve, recent) == []
            assert _post(serve, timed_export_body(203, now)).status_code == 200
        finally:
            printed = output.stop()
        assert serve.process.returncode == 0, printed
        assert "Traceback" not in printed, printed

        again = start_serve(tmp_path, data_dir)
        try:
            assert _missing(again, [*recent, 203]) == []
            assert [n for n in old if again.get(f"/api/traces/{n:032x}").status_code != 404] == []
        finally:
            again.stop()
