"""``traceway serve`` refuses clearly when it cannot start."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.e2e.serve_process import ServeProcess


def run_serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "traceway.cli", "serve", "--no-jaeger", "--no-zipkin", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve("--memory", "--port", str(port), "--otlp-grpc-port", "0",
                           "--otlp-http-port", "0")  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    # The decode workers, started first, stop without a word of their own.
    assert "Traceback" not in result.stderr


def test_a_data_directory_in_use_by_another_server_is_refused(serve: ServeProcess) -> None:
    assert serve.data_dir is not None
    result = run_serve("--data-dir", str(serve.data_dir), "--port", "0",
                       "--otlp-grpc-port", "0", "--otlp-http-port", "0")  # fmt: skip
    assert result.returncode == 1
    assert "traceway.duckdb" in result.stderr
    assert "Traceback" not in result.stderr
    assert serve.get("/api/services").status_code == 200


def test_bad_flags_are_explained() -> None:
    result = run_serve("--max-request-size", "lots")
    assert result.returncode == 2
    assert "'lots' is not a size" in result.stderr


def test_a_taken_otlp_grpc_port_is_named_without_a_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve("--memory", "--port", "0", "--otlp-grpc-port", str(port),
                           "--otlp-http-port", "0")  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use (OTLP/gRPC)" in result.stderr
    assert "Traceback" not in result.stderr
