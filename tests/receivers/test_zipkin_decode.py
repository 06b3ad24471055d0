"""Zipkin v2 spans, JSON and proto3, become traceway spans by the OpenTelemetry Collector's
rules (and Zipkin's conventions where the collector misses them)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, text_format
from py_zipkin import Kind
from py_zipkin.encoding import Encoding, get_encoder
from py_zipkin.encoding._helpers import Span as PyZipkinSpan
from py_zipkin.encoding._helpers import create_endpoint
from py_zipkin.encoding.protobuf import zipkin_pb2

from traceway.model import SpanKind, StatusCode
from traceway.receivers.otlp_decode import DecodedSpans
from traceway.receivers.zipkin_decode import START_TIME_ABSENT, ZipkinDecodeError
from traceway.receivers.zipkin_json import decode_json
from traceway.receivers.zipkin_proto import ZIPKIN_PROTO, decode_protobuf

TRACE_ID = "5b8efff798038103d269b633813fc60c"
START_US = 1_700_000_000_000_000


def zipkin_span(span_id: str = "eee19b7ec3c1b174", **fields: Any) -> dict[str, Any]:
    return {
        "traceId": TRACE_ID,
        "id": span_id,
        "name": "get /users",
        "timestamp": START_US,
        "duration": 207_000,
        "localEndpoint": {"serviceName": "users", "ipv4": "10.0.0.7", "port": 8080},
        **fields,
    }


def decode(*spans: dict[str, Any]) -> DecodedSpans:
    return decode_json(json.dumps(list(spans)).encode())


def only(**fields: Any) -> Any:
    decoded = decode(zipkin_span(**fields))
    assert decoded.rejected_spans == 0, decoded.error_message
    (result,) = decoded.spans
    return result


def test_the_zipkin_documentation_example_maps_field_by_field() -> None:
    result = only(
        parentId="eee19b7ec3c1b173",
        kind="SERVER",
        remoteEndpoint={"serviceName": "gateway", "ipv6": "::1", "port": 51234},
        annotations=[{"timestamp": START_US + 10, "value": "wr"}],
        tags={"http.method": "GET", "http.path": "/api", "retries": 3, "cached": False},
    )
    assert (result.trace_id, result.span_id) == (TRACE_ID, "eee19b7ec3c1b174")
    assert result.parent_span_id == "eee19b7ec3c1b173"
    assert result.kind is SpanKind.SERVER
    assert result.name == "get /users"
    assert result.start_time_unix_nano == START_US * 1000
    assert result.duration_ns == 207_000_000
    assert dict(result.resource.attributes) == {"service.name": "users"}
    assert dict(result.attributes) == {
        "http.method": "GET",
        "http.path": "/api",
        "retries": 3,
        "cached": False,
        "net.host.ip": "10.0.0.7",
        "net.host.port": 8080,
        "peer.service": "gateway",
        "net.peer.ip": "::1",
        "net.peer.port": 51234,
    }
    (event,) = result.events
    assert (event.time_unix_nano, event.name) == ((START_US + 10) * 1000, "wr")


def test_64_bit_and_shortened_ids_are_padded() -> None:
    result = only(traceId="463ac35c9f6413ad", id="a2fb4a1d1a96d31", parentId="1")
    assert result.trace_id == "0000000000000000463ac35c9f6413ad"
    assert result.span_id == "0a2fb4a1d1a96d31"
    assert result.parent_span_id == "0000000000000001"
    assert only(traceId=TRACE_ID.upper()).trace_id == TRACE_ID


ERROR = StatusCode.ERROR
DOWN = "RuntimeError: database is down"
OTEL_ERROR = {"otel.status_code": "ERROR", "otel.status_description": "no stock", "error": "no"}


@pytest.mark.parametrize(
    ("tags", "status"),
    [
        ({"error": DOWN}, (ERROR, DOWN)),
        ({"error": "true"}, (ERROR, "")),
        ({"error": ""}, (ERROR, "")),
        ({"otel.status_code": "OK"}, (StatusCode.OK, "")),
        (OTEL_ERROR, (ERROR, "no stock")),
        ({"otel.status_code": "STATUS_CODE_ERROR"}, (ERROR, "")),
        ({"http.status_code": "500"}, (StatusCode.UNSET, "")),
    ],
)
def test_status_comes_from_the_error_tag_and_otel_status(
    tags: dict[str, str], status: tuple[StatusCode, str]
) -> None:
    result = only(tags=tags)
    assert (result.status_code, result.status_message) == status
    assert not {"error", "otel.status_code", "otel.status_description"} & set(result.attributes)


def test_an_error_tag_of_false_is_not_an_error() -> None:
    result = only(tags={"error": "false"})
    assert result.status_code is StatusCode.UNSET
    assert result.attributes["error"] == "false"


def test_what_opentelemetry_zipkin_exporters_add_is_mapped_back() -> None:
    result = only(
        tags={
            "service.version": "1.2.3",
            "telemetry.sdk.language": "python",
            "otel.library.name": "tests.gateway",
            "otel.library.version": "0.1",
            "otel.scope.name": "tests.gateway",
            "otel.scope.version": "0.1",
            "w3c.tracestate": "vendor=1",
            "user.id": "42",
        },
        annotations=[
            {"timestamp": START_US, "value": json.dumps({"cache miss": {"size": 7, "key": "k"}})},
            {"timestamp": START_US, "value": "{not json"},
        ],
    )
    assert dict(result.resource.attributes) == {
        "service.version": "1.2.3",
        "telemetry.sdk.language": "python",
        "service.name": "users",
    }
    assert (result.scope.name, result.scope.version) == ("tests.gateway", "0.1")
    assert result.trace_state == "vendor=1"
    assert result.attributes["user.id"] == "42"
    (miss, other) = result.events
    assert (miss.name, dict(miss.attributes)) == ("cache miss", {"size": 7, "key": "k"})
    assert (other.name, dict(other.attributes)) == ("{not json", {})


@pytest.mark.parametrize(
    ("kind", "tags", "expected"),
    [
        ("CLIENT", {}, SpanKind.CLIENT),
        ("PRODUCER", {}, SpanKind.PRODUCER),
        ("CONSUMER", {}, SpanKind.CONSUMER),
        (None, {"span.kind": "internal"}, SpanKind.INTERNAL),
        (None, {}, SpanKind.UNSPECIFIED),
    ],
)
def test_kind(kind: str | None, tags: dict[str, str], expected: SpanKind) -> None:
    result = only(kind=kind, tags=tags)
    assert result.kind is expected
    assert "span.kind" not in result.attributes


def test_a_span_without_timestamp_starts_at_zero_and_says_so() -> None:
    result = only(timestamp=None, duration=5)
    assert (result.start_time_unix_nano, result.end_time_unix_nano) == (0, 5000)
    assert result.attributes[START_TIME_ABSENT] is True


def test_a_shared_server_span_gets_its_own_id_under_the_client_span() -> None:
    client = zipkin_span(
        "aaaaaaaaaaaaaaaa",
        parentId="1111111111111111",
        kind="CLIENT",
        localEndpoint={"serviceName": "gateway"},
    )
    server = zipkin_span(
        "aaaaaaaaaaaaaaaa", parentId="1111111111111111", kind="SERVER", shared=True
    )
    query = zipkin_span("bbbbbbbbbbbbbbbb", parentId="aaaaaaaaaaaaaaaa", kind="CLIENT")
    first = decode(client, server, query)
    again = decode(server)
    by_name = {(s.service_name, s.kind): s for s in first.spans}
    gateway = by_name[("gateway", SpanKind.CLIENT)]
    users = by_name[("users", SpanKind.SERVER)]
    db = by_name[("users", SpanKind.CLIENT)]
    assert gateway.span_id == "aaaaaaaaaaaaaaaa"
    assert users.parent_span_id == "aaaaaaaaaaaaaaaa"
    assert users.span_id not in ("aaaaaaaaaaaaaaaa", "")
    assert db.parent_span_id == users.span_id
    assert again.spans[0].span_id == users.span_id  # stable when the request is retried


def test_bad_spans_are_rejected_and_the_rest_kept() -> None:
    decoded = decode(
        zipkin_span("1111111111111111"),
        zipkin_span("not hex"),
        zipkin_span("2222222222222222", traceId="0" * 32),
        zipkin_span("3333333333333333", timestamp="yesterday"),
        zipkin_span("4444444444444444", tags=["a"]),
    )
    assert [s.span_id for s in decoded.spans] == ["1111111111111111"]
    assert decoded.rejected_spans == 4
    for reason in ("invalid id", "zero traceId", "timestamp", "tags"):
        assert reason in decoded.error_message


@pytest.mark.parametrize("body", [b"{", b'{"spans": []}', b"\xff"])
def test_a_body_that_is_not_a_json_array_is_refused(body: bytes) -> None:
    with pytest.raises(ZipkinDecodeError):
        decode_json(body)


def py_zipkin_spans() -> list[PyZipkinSpan]:
    local = create_endpoint(port=8080, service_name="users", host="10.0.0.7")
    remote = create_endpoint(port=5432, service_name="postgres", host="2001:db8::7")
    return [
        PyZipkinSpan(
            trace_id=TRACE_ID,
            name="get /users",
            parent_id="eee19b7ec3c1b173",
            span_id="eee19b7ec3c1b174",
            kind=Kind.CLIENT,
            timestamp=START_US / 1e6,
            duration=0.207,
            local_endpoint=local,
            remote_endpoint=remote,
            annotations={"cache miss": (START_US + 10) / 1e6},
            tags={"db.statement": "select 1", "error": "timeout"},
        ),
        PyZipkinSpan(
            trace_id=TRACE_ID[16:],
            name="local",
            parent_id=None,
            span_id="0000000000000005",
            kind=Kind.LOCAL,
            timestamp=START_US / 1e6,
            duration=0.001,
            local_endpoint=local,
        ),
    ]


def encoded(encoding: Encoding) -> bytes:
    encoder = get_encoder(encoding)
    body = encoder.encode_queue([encoder.encode_span(s) for s in py_zipkin_spans()])
    return body.encode() if isinstance(body, str) else body


def test_py_zipkin_json_and_proto3_decode_to_the_same_spans() -> None:
    from_json = decode_json(encoded(Encoding.V2_JSON))
    from_proto = decode_protobuf(encoded(Encoding.V2_PROTO3))
    assert from_json.rejected_spans == from_proto.rejected_spans == 0
    assert from_json.spans == from_proto.spans
    query, local = from_proto.spans
    assert query.kind is SpanKind.CLIENT
    assert (query.status_code, query.status_message) == (StatusCode.ERROR, "timeout")
    assert query.attributes["net.peer.ip"] == "2001:db8::7"
    assert query.attributes["peer.service"] == "postgres"
    assert query.events[0].name == "cache miss"
    assert local.trace_id == "0" * 16 + TRACE_ID[16:]
    assert local.kind is SpanKind.UNSPECIFIED


def test_protobuf_garbage_is_refused() -> None:
    with pytest.raises(ZipkinDecodeError, match="ListOfSpans"):
        decode_protobuf(b"\xff\xff\xff not protobuf")


def test_the_schema_matches_zipkin_proto_as_py_zipkin_ships_it() -> None:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(text_format.Parse(ZIPKIN_PROTO, descriptor_pb2.FileDescriptorProto()))
    theirs = zipkin_pb2.DESCRIPTOR
    for name in ("Span", "Endpoint", "Annotation", "ListOfSpans"):
        ours, reference = descriptor_pb2.DescriptorProto(), descriptor_pb2.DescriptorProto()
        pool.FindMessageTypeByName(f"zipkin.proto3.{name}").CopyToProto(ours)
        theirs.pool.FindMessageTypeByName(f"zipkin.proto3.{name}").CopyToProto(reference)
        assert ours == reference, name


def test_tag_values_beyond_what_otlp_holds_are_kept_as_text() -> None:
    result = only(
        tags={"big": 2**70, "list": ["a", 1], "ok": 2**62},
        remoteEndpoint={"serviceName": "db", "port": 70_000},
        annotations=[{"timestamp": START_US, "value": json.dumps({"e": {"n": 2**64}})}],
    )
    assert result.attributes["big"] == str(2**70)
    assert result.attributes["list"] == '["a",1]'
    assert result.attributes["ok"] == 2**62
    assert "net.peer.port" not in result.attributes
    assert result.events[0].attributes["n"] == str(2**64)
