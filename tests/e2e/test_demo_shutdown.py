"""Ctrl-C stops ``traceway demo`` in order, and every span of every answered request is kept."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.demo.demo_process import start_demo
from tests.e2e.serve_process import start_serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

USER_TRACE_SPANS = 7


def test_ctrl_c_right_after_requests_loses_no_span(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # Spans wait 60 s in the services' batch processors: only the shutdown sends them.
    demo = start_demo(
        tmp_path, "--data-dir", str(data_dir), environ={"OTEL_BSP_SCHEDULE_DELAY": "60000"}
    )
    try:
        trace_ids = []
        for user_id in range(1, 6):
            response = httpx.get(f"{demo.gateway}/user/{user_id}", timeout=10)
            assert response.status_code == 200
            trace_ids.append(response.headers["x-trace-id"])
    finally:
        output = demo.stop()

    assert demo.process.returncode == 0, output
    assert "traceway demo: stopped" in output
    assert "Traceback" not in output
    serve = start_serve(tmp_path, data_dir)
    try:
        for trace_id in trace_ids:
            response = serve.get(f"/api/traces/{trace_id}")
            assert response.status_code == 200, f"trace {trace_id} is missing"
            assert len(response.json()["data"][0]["spans"]) == USER_TRACE_SPANS
    finally:
        serve.stop()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_second_ctrl_c_stops_everything_at_once(tmp_path: Path) -> None:
    demo = start_demo(tmp_path, "--memory")
    pids = [demo.ready["backend_pid"]]
    pids += [service["pid"] for service in demo.ready["services"].values() if service["pid"]]
    assert demo.process.stdout is not None
    demo.process.send_signal(signal.SIGINT)
    output = ""
    while "traceway demo: stopping (" not in output:  # the orderly stop has begun
        line = demo.process.stdout.readline()
        assert line, output
        output += line
    output += demo.stop()  # the second Ctrl-C

    assert "traceway demo: stopping now, without waiting" in output
    assert "traceway demo: stopped" in output
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids), "a part of the demo still runs"
