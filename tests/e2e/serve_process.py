"""``traceway serve`` as a real subprocess on ephemeral ports, for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

STARTUP_TIMEOUT_S = 30


@dataclass
class ServeProcess:
    """A running ``traceway serve`` and where it listens."""

    process: subprocess.Popen[str]
    data_dir: Path | None
    otlp_grpc_port: int
    otlp_http_port: int
    port: int
    jaeger_thrift_http_port: int | None = None
    jaeger_agent_compact_port: int | None = None
    jaeger_agent_binary_port: int | None = None
    zipkin_port: int | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def otlp_http(self) -> str:
        return f"http://127.0.0.1:{self.otlp_http_port}"

    @property
    def otlp_grpc(self) -> str:
        return f"127.0.0.1:{self.otlp_grpc_port}"

    def get(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(self.api + path, params=params, timeout=10)  # type: ignore[arg-type]

    def kill(self) -> None:
        """Kill the process if it still runs (a fixture's teardown)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()

    def stop(self, sig: int = signal.SIGTERM) -> str:
        """Stop the process with ``sig`` and return what it printed."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        out, _ = self.process.communicate(timeout=30)
        return out


def start_serve(
    tmp_path: Path, data_dir: Path | None, *extra: str, env: dict[str, str] | None = None
) -> ServeProcess:
    """Start ``traceway serve`` with every port ephemeral, so that tests never collide on
    the fixed defaults; ``extra`` flags come last and win, ``env`` adds variables."""
    ready = tmp_path / f"ready-{time.monotonic_ns()}.json"
    where = ["--data-dir", str(data_dir)] if data_dir is not None else ["--memory"]
    command = [
        sys.executable, "-m", "traceway.cli", "serve", *where,
        "--otlp-grpc-port", "0", "--otlp-http-port", "0", "--port", "0",
        "--jaeger-thrift-http-port", "0", "--jaeger-agent-compact-port", "0",
        "--jaeger-agent-binary-port", "0", "--zipkin-port", "0",
        "--ready-file", str(ready), *extra,
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, _ = process.communicate()
            raise RuntimeError(f"traceway serve did not start:\n{out}")
        time.sleep(0.05)
    ports = json.loads(ready.read_text())
    return ServeProcess(
        process,
        data_dir,
        ports["otlp_grpc_port"],
        ports["otlp_http_port"],
        ports["port"],
        jaeger_thrift_http_port=ports.get("jaeger_thrift_http_port"),
        jaeger_agent_compact_port=ports.get("jaeger_agent_compact_port"),
        jaeger_agent_binary_port=ports.get("jaeger_agent_binary_port"),
        zipkin_port=ports.get("zipkin_port"),
    )
