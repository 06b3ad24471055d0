"""``traceway demo`` as a real subprocess on ports the system picks, for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

STARTUP_TIMEOUT_S = 120
TRACE_TIMEOUT_S = 30


@dataclass
class DemoProcess:
    """A running demo and where its parts listen (from its ``--ready-file``)."""

    process: subprocess.Popen[str]
    ready: dict[str, Any]

    @property
    def gateway(self) -> str:
        return str(self.ready["gateway"])

    @property
    def api(self) -> str:
        return str(self.ready["ui"])

    def pid_of(self, service: str) -> int:
        return int(self.ready["services"][service]["pid"])

    def trace(self, trace_id: str, spans: int) -> dict[str, Any]:
        """The trace from the API once it has ``spans`` spans (spans arrive in batches)."""
        deadline = time.monotonic() + TRACE_TIMEOUT_S
        found: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = httpx.get(f"{self.api}/api/traces/{trace_id}", timeout=10)
            if response.status_code == 200:
                found = response.json()["data"][0]
                if len(found["spans"]) == spans:
                    return found
                if len(found["spans"]) > spans:
                    break
            time.sleep(0.2)
        raise AssertionError(
            f"trace {trace_id} has {len(found.get('spans', []))} spans, not {spans}:\n"
            + json.dumps(found, indent=1)[:4000]
        )

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 90) -> str:
        """Stop the demo as Ctrl-C would; what it printed."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        out, _ = self.process.communicate(timeout=timeout_s)
        return out


def start_demo(tmp_path: Path, *extra: str, environ: dict[str, str] | None = None) -> DemoProcess:
    """Start ``traceway demo`` with every port chosen by the system and no traffic;
    ``environ`` adds to the environment."""
    ready = tmp_path / f"demo-ready-{time.monotonic_ns()}.json"
    command = [
        sys.executable, "-m", "traceway.cli", "demo", "--no-traffic",
        "--ui-port", "0", "--otlp-grpc-port", "0", "--otlp-http-port", "0",
        "--gateway-port", "0", "--base-port", "0", "--log-level", "info",
        "--ready-file", str(ready), *extra,
    ]  # fmt: skip
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("TRACEWAY_FAULT_")}
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**inherited, **(environ or {}), "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.send_signal(signal.SIGINT)
            try:
                out, _ = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                out, _ = process.communicate()
            raise RuntimeError(f"traceway demo did not start:\n{out}")
        time.sleep(0.1)
    return DemoProcess(process, json.loads(ready.read_text()))


def spans_by_name(trace: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Spans keyed by (service name, operation name); fails on duplicates."""
    services = {key: value["serviceName"] for key, value in trace["processes"].items()}
    spans: dict[tuple[str, str], dict[str, Any]] = {}
    for span in trace["spans"]:
        key = (services[span["processID"]], span["operationName"])
        if key in spans:
            raise AssertionError(f"two spans {key} in one trace")
        spans[key] = span
    return spans


def tags(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span["tags"]}


def parent_id(span: dict[str, Any]) -> str | None:
    for reference in span["references"]:
        if reference["refType"] == "CHILD_OF":
            return str(reference["spanID"])
    return None
