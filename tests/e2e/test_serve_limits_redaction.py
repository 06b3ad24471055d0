"""Limits and redaction in a real ``traceway serve``: what comes back through the Jaeger API.

Spans arrive the three ways receivers hand them over: OTLP/protobuf and OTLP/JSON
(columns) and Zipkin JSON (span objects). The bodies are built here rather than by
an SDK, since an SDK would apply its own limits before sending.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.serve_process import ServeProcess, start_serve
from traceway.model import AttributeValue, Event, Resource, Span, StatusCode
from traceway.receivers.otlp_encode import encode_json, encode_protobuf

NOW_NS = time.time_ns()
VISA = "4111111111111111"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    server = start_serve(
        tmp_path,
        tmp_path / "data",
        "--redact-emails",
        "--redact-card-numbers",
        "--redact-key",
        "customer.ssn",
        "--redact-pattern",
        r"ACCT-\d{6}",
        "--max-events-per-span",
        "100",
    )
    yield server
    server.kill()


def make_span(trace: int, **fields: Any) -> Span:
    return Span(
        trace_id=f"{trace:032x}",
        span_id=f"{trace:016x}",
        name="POST /checkout",
        start_time_unix_nano=NOW_NS,
        end_time_unix_nano=NOW_NS + 5_000_000,
        resource=Resource({"service.name": "checkout"}),
        **fields,
    )


def post_otlp(serve: ServeProcess, body: bytes, content_type: str) -> None:
    response = httpx.post(
        f"{serve.otlp_http}/v1/traces",
        content=body,
        headers={"content-type": content_type},
        timeout=60,
    )
    assert response.status_code == 200, response.text


def stored(serve: ServeProcess, trace: int) -> dict[str, Any]:
    (trace_data,) = serve.get(f"/api/traces/{trace:032x}").json()["data"]
    (span,) = trace_data["spans"]
    return span  # type: ignore[no-any-return]


def tags(span: dict[str, Any]) -> dict[str, Any]:
    return {t["key"]: t["value"] for t in span["tags"]}


def test_an_oversized_span_comes_back_bounded_and_marked(serve: ServeProcess) -> None:
    attributes: dict[str, AttributeValue] = {"payload": "p" * 1_000_000}
    attributes.update((f"attribute.{i}", i) for i in range(100_000))
    normal = make_span(2, attributes={"http.route": "/checkout", "items": 3})
    events = tuple(Event(NOW_NS + t, f"retry {t}") for t in range(150))
    body = encode_protobuf([make_span(1, attributes=attributes, events=events), normal])
    post_otlp(serve, body, "application/x-protobuf")

    oversized = stored(serve, 1)
    assert [log["fields"][0]["value"] for log in oversized["logs"]][:1] == ["retry 50"]
    assert len(oversized["logs"]) == 100
    span = tags(oversized)
    assert span["otel.dropped_events_count"] == 50
    assert len(span["payload"]) == 16384
    assert json.loads(span["traceway.truncated_attributes"]) == ["payload"]
    assert span["otel.dropped_attributes_count"] == 100_001 - 128
    assert "attribute.126" in span and "attribute.127" not in span

    assert tags(stored(serve, 2)) == {"http.route": "/checkout", "items": 3}


def test_secrets_are_masked_before_they_are_stored_whatever_the_protocol(
    serve: ServeProcess,
) -> None:
    def secret_span(trace: int) -> Span:
        return make_span(
            trace,
            attributes={
                "http.request.header.authorization": ["Bearer abc.def"],
                "customer.ssn": "078-05-1120",
                "payment.card": VISA,
                "note": "moved ACCT-123456 for alice@example.com",
                "http.route": "/checkout",
            },
            events=(Event(NOW_NS, "exception", {"exception.message": "no user bob@example.com"}),),
            status_code=StatusCode.ERROR,
            status_message="declined for carol@example.com",
        )

    post_otlp(serve, encode_protobuf([secret_span(11)]), "application/x-protobuf")
    post_otlp(serve, encode_json([secret_span(12)]), "application/json")
    zipkin = [
        {
            "traceId": f"{13:032x}",
            "id": f"{13:016x}",
            "name": "post /checkout",
            "timestamp": NOW_NS // 1000,
            "duration": 5000,
            "localEndpoint": {"serviceName": "checkout"},
            "tags": {"authorization": "Bearer abc.def", "note": "mail alice@example.com"},
        }
    ]
    assert serve.zipkin_port is not None
    response = httpx.post(
        f"http://127.0.0.1:{serve.zipkin_port}/api/v2/spans", json=zipkin, timeout=30
    )
    assert response.status_code == 202, response.text

    for trace in (11, 12):
        span = stored(serve, trace)
        assert tags(span) == {
            "traceway.redacted_count": 6,
            "http.request.header.authorization": "***",
            "customer.ssn": "***",
            "payment.card": "***",
            "note": "moved *** for ***",
            "http.route": "/checkout",
            "otel.status_code": "ERROR",
            "error": True,
            "otel.status_description": "declined for ***",
        }
        (log,) = span["logs"]
        assert {f["key"]: f["value"] for f in log["fields"]}["exception.message"] == "no user ***"

    zipkin_tags = tags(stored(serve, 13))
    assert zipkin_tags["authorization"] == "***"
    assert zipkin_tags["note"] == "mail ***"
    assert zipkin_tags["traceway.redacted_count"] == 2

    page = json.dumps(serve.get(f"/api/traces/{11:032x}").json())
    assert "abc.def" not in page and "example.com" not in page and VISA not in page


def test_an_invalid_redaction_pattern_stops_serve_at_start_saying_why(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"--redact-pattern: redaction pattern '\(' is not"):
        start_serve(tmp_path, None, "--redact-pattern", "(")
    with pytest.raises(RuntimeError, match=r"traceway: redaction pattern '\[z' is not a valid"):
        start_serve(tmp_path, None, env={"TRACEWAY_REDACT_PATTERNS": "ok\n[z"})
