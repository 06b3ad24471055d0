"""Ctrl-C stops ``traceway demo`` in order, and every span of every answered request is kept."""

from __future__ import annotations

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
