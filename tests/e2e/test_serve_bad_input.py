"""Bad input gets a clear error and harms nothing else (OTLP/HTTP, OTLP/gRPC, API)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.e2e.serve_process import ServeProcess, start_serve

TRACE_ID = "5b8efff798038103d269b633813fc60c"
EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def otlp_json_span(span_id: str, trace_id: str = TRACE_ID, **fields: Any) -> dict[str, Any]:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "GET /orders",
        "kind": 2,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": 1700000000250000000,
        **fields,
    }


def otlp_json_request(*spans: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "orders"}}]
                },
                "scopeSpans": [{"scope": {"name": "hand-built"}, "spans": list(spans)}],
                "someFutureField": {"ignored": True},
            }
        ]
    }


def post(serve: ServeProcess, body: bytes, content_type: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{serve.otlp_http}/v1/traces",
        content=body,
        headers={"Content-Type": content_type, **headers},
        timeout=30,
    )


def export_grpc(serve: ServeProcess, body: bytes) -> ExportTraceServiceResponse:
    with grpc.insecure_channel(serve.otlp_grpc) as channel:
        export = channel.unary_unary(
            EXPORT_METHOD, response_deserializer=ExportTraceServiceResponse.FromString
        )
        return export(body, timeout=10)  # type: ignore[no-any-return]


def test_hand_built_json_keeps_types_and_answers_in_json(serve: ServeProcess) -> None:
    span = otlp_json_span(
        "eee19b7ec3c1b174",
        attributes=[
            {"key": "order.count", "value": {"intValue": "42"}},
            {"key": "big", "value": {"intValue": 9007199254740993}},
            {"key": "price", "value": {"doubleValue": 9.5}},
            {"key": "paid", "value": {"boolValue": True}},
            {"key": "items", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
        ],
        status={"code": 2, "message": "out of stock"},
        unknownSpanField="ignored",
    )
    response = post(serve, json.dumps(otlp_json_request(span)).encode(), "application/json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {}

    (stored,) = serve.get(f"/api/traces/{TRACE_ID}").json()["data"][0]["spans"]
    tags = {t["key"]: (t["type"], t["value"]) for t in stored["tags"]}
    assert tags["order.count"] == ("int64", 42)
    # Beyond 2**53 a JSON number loses digits in JavaScript; Jaeger sends such ints as text.
    assert tags["big"] == ("int64", "9007199254740993")
    assert tags["price"] == ("float64", 9.5)
    assert tags["paid"] == ("bool", True)
    assert tags["error"] == ("bool", True)
    assert json.loads(tags["items"][1]) == ["a"]
    assert stored["duration"] == 250_000


def test_gzip_json_is_accepted(serve: ServeProcess) -> None:
    body = gzip.compress(json.dumps(otlp_json_request(otlp_json_span("1111111111111111"))).encode())
    response = post(serve, body, "application/json", **{"Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    assert serve.get(f"/api/traces/{TRACE_ID}").status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"", "application/x-protobuf"), (b"{}", "application/json")],
)
def test_empty_request_succeeds(serve: ServeProcess, body: bytes, content_type: str) -> None:
    response = post(serve, body, content_type)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)


def test_invalid_ids_are_rejected_with_partial_success_and_the_rest_is_stored(
    serve: ServeProcess,
) -> None:
    request = otlp_json_request(
        otlp_json_span("2222222222222222"),
        otlp_json_span("abcd"),
        otlp_json_span("3333333333333333", trace_id="0" * 32),
        otlp_json_span("zzzzzzzzzzzzzzzz"),
    )
    response = post(serve, json.dumps(request).encode(), "application/json")
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 3
    assert "span_id" in partial["errorMessage"]
    assert "trace_id" in partial["errorMessage"]
    spans = serve.get(f"/api/traces/{TRACE_ID}").json()["data"][0]["spans"]
    assert [s["spanID"] for s in spans] == ["2222222222222222"]


def test_bad_bodies_get_specific_errors_and_the_server_keeps_its_data(
    serve: ServeProcess,
) -> None:
    good = json.dumps(otlp_json_request(otlp_json_span("4444444444444444"))).encode()
    assert post(serve, good, "application/json").status_code == 200

    garbage = post(serve, b"\xff\xff\xff not protobuf", "application/x-protobuf")
    assert garbage.status_code == 400
    not_json = post(serve, b'{"resourceSpans": [', "application/json")
    assert not_json.status_code == 400
    assert not_json.json()["message"]
    wrong_type = post(serve, b'{"resourceSpans": "many"}', "application/json")
    assert wrong_type.status_code == 400
    bad_gzip = post(serve, b"not gzip", "application/json", **{"Content-Encoding": "gzip"})
    assert bad_gzip.status_code == 400
    assert "gzip" in bad_gzip.json()["message"]
    unknown_encoding = post(serve, good, "application/json", **{"Content-Encoding": "br"})
    assert unknown_encoding.status_code == 400
    xml = post(serve, b"<spans/>", "application/xml")
    assert xml.status_code == 415
    assert "application/x-protobuf" in xml.json()["message"]

    with pytest.raises(grpc.RpcError) as rejected:
        export_grpc(serve, b"\xff\xff\xff not protobuf")
    assert rejected.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    assert serve.get(f"/api/traces/{TRACE_ID}").status_code == 200


def test_gzip_bomb_is_refused_early(serve: ServeProcess) -> None:
    bomb = gzip.compress(b"\0" * (80 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 1024 * 1024
    response = post(serve, bomb, "application/json", **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["message"]


def test_request_size_limit_holds_for_http_and_grpc(tmp_path: Path) -> None:
    serve = start_serve(tmp_path, None, "--max-request-size", "64KiB")
    try:
        big = otlp_json_span("5555555555555555", name="x" * 100_000)
        response = post(serve, json.dumps(otlp_json_request(big)).encode(), "application/json")
        assert response.status_code == 413
        assert "65536" in response.json()["message"]

        request = ExportTraceServiceRequest()
        request.resource_spans.add().scope_spans.add().spans.add(name="y" * 100_000)
        with pytest.raises(grpc.RpcError) as refused:
            export_grpc(serve, request.SerializeToString())
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        serve.stop()


def test_grpc_invalid_ids_get_partial_success(serve: ServeProcess) -> None:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    spans.add(trace_id=bytes.fromhex(TRACE_ID), span_id=b"\x01" * 8, name="ok")
    spans.add(trace_id=b"\x01" * 3, span_id=b"\x02" * 8, name="short trace id")
    response = export_grpc(serve, request.SerializeToString())
    assert response.partial_success.rejected_spans == 1
    assert "trace_id" in response.partial_success.error_message
    assert serve.get(f"/api/traces/{TRACE_ID}").json()["data"][0]["spans"][0]["spanID"] == (
        "01" * 8
    )


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/traces", {"service": "x", "minDuration": "10parsecs"}, 400),
        ("/api/traces", {"service": "x", "start": "2000", "end": "1000"}, 400),
        ("/api/traces/not-hex", {}, 400),
        (f"/api/traces/{'ab' * 16}", {}, 404),
    ],
)
def test_bad_query_parameters_get_the_jaeger_error_envelope(
    serve: ServeProcess, path: str, params: dict[str, str], status: int
) -> None:
    response = serve.get(path, **params)
    assert response.status_code == status
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["code"] == status
    assert body["errors"][0]["msg"]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("0", "0"),  # times at 0
        ("1700000000500000000", "1700000000000000000"),  # end before start
        ("4102444800000000000", "4102444800100000000"),  # the year 2100
        ("18446744073709551615", "18446744073709551615"),  # the largest fixed64
    ],
)
def test_odd_times_are_stored_or_rejected_clearly_and_harm_nothing(
    serve: ServeProcess, start: str, end: str
) -> None:
    good = json.dumps(otlp_json_request(otlp_json_span("6666666666666666"))).encode()
    assert post(serve, good, "application/json").status_code == 200
    odd = otlp_json_span(
        "7777777777777777", trace_id="ab" * 16, startTimeUnixNano=start, endTimeUnixNano=end
    )
    response = post(serve, json.dumps(otlp_json_request(odd)).encode(), "application/json")
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()["message"]
    elif response.json():
        assert response.json()["partialSuccess"]["errorMessage"]
    else:
        (stored,) = serve.get(f"/api/traces/{'ab' * 16}").json()["data"][0]["spans"]
        assert stored["duration"] >= 0
    assert serve.get(f"/api/traces/{TRACE_ID}").status_code == 200
    assert serve.get("/api/services").status_code == 200
