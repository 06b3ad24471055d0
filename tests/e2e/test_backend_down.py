"""Instrumented services keep serving while the backend is down, and recover when it returns."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from tests.e2e.serve_process import start_serve

pytestmark = pytest.mark.slow

PROGRAM = Path(__file__).parent / "programs" / "greeter_service.py"
GREET = "/demo.Greeter/Greet"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_service_keeps_serving_without_backend_and_traces_arrive_once_it_returns(
    tmp_path: Path,
) -> None:
    backend_port = free_port()
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{backend_port}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2",  # seconds per export attempt
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_BSP_MAX_QUEUE_SIZE": "512",  # the bound on spans held while the backend is away
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "256",
    }
    service = subprocess.Popen(
        [sys.executable, str(PROGRAM)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip
    try:
        assert service.stdout is not None
        port = int(service.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            greet = channel.unary_unary(GREET)
            answers = [greet(f"down {i}".encode(), timeout=10) for i in range(400)]
            assert answers[-1] == b"hello down 399"

            serve = start_serve(tmp_path, None, "--otlp-grpc-port", str(backend_port))
            try:
                deadline = time.monotonic() + 60
                found: list[object] = []
                while not found and time.monotonic() < deadline:
                    assert greet(b"back", timeout=10) == b"hello back"
                    time.sleep(0.5)
                    found = serve.get("/api/traces", service="greeter", limit=1).json()["data"]
                assert found, "no trace arrived after the backend came back"
                assert serve.get("/api/services").json()["data"] == ["greeter"]
            finally:
                serve.stop()
    finally:
        service.terminate()
        _, errors = service.communicate(timeout=60)
    assert service.returncode == 0, errors
    assert "Traceback" not in errors
