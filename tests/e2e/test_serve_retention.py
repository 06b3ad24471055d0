"""``--retention`` removes old traces whole when the server starts; newer ones stay."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.e2e.serve_process import start_serve

DAY_NS = 24 * 3600 * 10**9
OLD_TRACE = "0af7651916cd43dd8448eb211c80319c"
NEW_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def spans_json(trace_id: str, start_ns: int, span_ids: list[str]) -> bytes:
    spans = [
        {"traceId": trace_id, "spanId": span_id, "name": f"step {i}", "kind": 1,
         "startTimeUnixNano": str(start_ns + i * 10**6),
         "endTimeUnixNano": str(start_ns + i * 10**6 + 10**5)}
        for i, span_id in enumerate(span_ids)
    ]  # fmt: skip
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "kept"}}]}
    body = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    return json.dumps(body).encode()


def test_retention_deletes_traces_older_than_the_limit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    now = time.time_ns()
    serve = start_serve(tmp_path, data)
    try:
        url = f"{serve.otlp_http}/v1/traces"
        headers = {"Content-Type": "application/json"}
        old = spans_json(OLD_TRACE, now - 3 * DAY_NS, ["1111111111111111", "2222222222222222"])
        new = spans_json(NEW_TRACE, now - 10**9, ["3333333333333333"])
        assert httpx.post(url, content=old, headers=headers).status_code == 200
        assert httpx.post(url, content=new, headers=headers).status_code == 200
    finally:
        serve.stop()

    kept = start_serve(tmp_path, data, "--retention", "2d")
    try:
        deadline = time.monotonic() + 30
        while kept.get(f"/api/traces/{OLD_TRACE}").status_code != 404:
            assert time.monotonic() < deadline, "the old trace was not deleted"
            time.sleep(0.2)
        assert len(kept.get(f"/api/traces/{NEW_TRACE}").json()["data"][0]["spans"]) == 1
    finally:
        kept.stop()
