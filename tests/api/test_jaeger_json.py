from __future__ import annotations

import json

import pytest

from traceway.api.jaeger_json import JaegerTag, tag, trace_to_json
from traceway.model import (
    AttributeValue,
    Event,
    InstrumentationScope,
    Link,
    Resource,
    Span,
    SpanKind,
    StatusCode,
    Trace,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
START_NS = 1_700_000_000_123_456_789


def make_span(span_id: str, **fields: object) -> Span:
    defaults: dict[str, object] = {
        "trace_id": TRACE_ID,
        "span_id": span_id,
        "name": "op",
        "start_time_unix_nano": START_NS,
        "end_time_unix_nano": START_NS + 2_500_999,
        "resource": Resource({"service.name": "gateway"}),
    }
    defaults.update(fields)
    return Span(**defaults)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", {"type": "string", "value": "text"}),
        (True, {"type": "bool", "value": True}),
        (42, {"type": "int64", "value": 42}),
        (2**53, {"type": "int64", "value": "9007199254740992"}),  # beyond JS precision
        (1.5, {"type": "float64", "value": 1.5}),
        (float("nan"), {"type": "float64", "value": "nan"}),
        (b"\x00\x0009", {"type": "binary", "value": "AAAwOQ=="}),  # Jaeger's own fixture
        (["a", 1, True], {"type": "string", "value": '["a",1,true]'}),
        ({"k": [b"\x01"]}, {"type": "string", "value": '{"k":["AQ=="]}'}),
        (None, {"type": "string", "value": ""}),
    ],
)
def test_tags_keep_their_types(value: AttributeValue, expected: dict[str, object]) -> None:
    converted = tag("k", value)
    assert converted == {"key": "k", **expected}
    json.dumps(converted, allow_nan=False)  # always valid JSON


def by_key(tags: list[JaegerTag]) -> dict[str, object]:
    return {t["key"]: t["value"] for t in tags}


def test_span_json_has_jaegers_shape_and_units() -> None:
    span = make_span("00f067aa0ba902b7", flags=0x301)
    (converted,) = trace_to_json(Trace(TRACE_ID, (span,)))["spans"]
    assert converted == {
        "traceID": TRACE_ID,
        "spanID": "00f067aa0ba902b7",
        "operationName": "op",
        "references": [],
        "startTime": 1_700_000_000_123_456,
        "duration": 2_500,
        "tags": [],
        "logs": [],
        "processID": "p1",
        "warnings": None,
        "flags": 1,
    }


def test_derived_tags_follow_the_otlp_to_jaeger_translator() -> None:
    span = make_span(
        "00f067aa0ba902b7",
        kind=SpanKind.CLIENT,
        status_code=StatusCode.ERROR,
        status_message="deadline exceeded",
        attributes={"error": "custom", "rpc.method": "Get"},
        scope=InstrumentationScope("traceway.grpc", "0.1.0"),
        trace_state="vendor=1",
        dropped_events_count=3,
    )
    tags = trace_to_json(Trace(TRACE_ID, (span,)))["spans"][0]["tags"]
    assert [t["key"] for t in tags] == [
        "otel.scope.name",
        "otel.scope.version",
        "rpc.method",
        "span.kind",
        "otel.status_code",
        "error",
        "otel.status_description",
        "w3c.tracestate",
        "otel.dropped_events_count",
    ]
    assert by_key(tags) == {
        "otel.scope.name": "traceway.grpc",
        "otel.scope.version": "0.1.0",
        "rpc.method": "Get",
        "span.kind": "client",
        "otel.status_code": "ERROR",
        "error": True,
        "otel.status_description": "deadline exceeded",
        "w3c.tracestate": "vendor=1",
        "otel.dropped_events_count": 3,
    }


def test_unspecified_kind_and_unset_status_add_no_tags() -> None:
    span = make_span("00f067aa0ba902b7", attributes={"error": True})
    tags = trace_to_json(Trace(TRACE_ID, (span,)))["spans"][0]["tags"]
    assert tags == [{"key": "error", "type": "bool", "value": True}]


def test_parent_comes_first_then_links_even_when_the_parent_is_missing() -> None:
    other_trace = "0af7651916cd43dd8448eb211c80319c"
    span = make_span(
        "00f067aa0ba902b7",
        parent_span_id="b7ad6b7169203331",
        links=(Link(other_trace, "53995c3f42cd8ad8"),),
    )
    references = trace_to_json(Trace(TRACE_ID, (span,)))["spans"][0]["references"]
    assert references == [
        {"refType": "CHILD_OF", "traceID": TRACE_ID, "spanID": "b7ad6b7169203331"},
        {"refType": "FOLLOWS_FROM", "traceID": other_trace, "spanID": "53995c3f42cd8ad8"},
    ]


def test_events_become_logs_with_the_name_as_event_field() -> None:
    span = make_span(
        "00f067aa0ba902b7",
        events=(
            Event(START_NS + 1_000, "exception", {"exception.type": "ValueError"}),
            Event(START_NS + 2_000, "ignored", {"event": "from attribute"}),
        ),
    )
    logs = trace_to_json(Trace(TRACE_ID, (span,)))["spans"][0]["logs"]
    assert logs == [
        {
            "timestamp": 1_700_000_000_123_457,
            "fields": [
                {"key": "event", "type": "string", "value": "exception"},
                {"key": "exception.type", "type": "string", "value": "ValueError"},
            ],
        },
        {
            "timestamp": 1_700_000_000_123_458,
            "fields": [{"key": "event", "type": "string", "value": "from attribute"}],
        },
    ]


def test_one_process_per_distinct_resource() -> None:
    gateway: dict[str, AttributeValue] = {
        "service.name": "gateway",
        "host.name": "h1",
        "pids": [1, 2],
    }
    spans = (
        make_span("0000000000000001", resource=Resource(dict(gateway))),
        make_span("0000000000000002", resource=Resource({"service.name": "order"})),
        make_span("0000000000000003", resource=Resource(dict(reversed(gateway.items())))),
        make_span("0000000000000004", resource=Resource({**gateway, "host.name": "h2"})),
        make_span("0000000000000005", resource=Resource({})),
    )
    converted = trace_to_json(Trace(TRACE_ID, spans))
    assert [s["processID"] for s in converted["spans"]] == ["p1", "p2", "p1", "p3", "p4"]
    assert converted["processes"]["p1"] == {
        "serviceName": "gateway",
        "tags": [
            {"key": "host.name", "type": "string", "value": "h1"},
            {"key": "pids", "type": "string", "value": "[1,2]"},
        ],
    }
    assert converted["processes"]["p2"]["serviceName"] == "order"
    assert converted["processes"]["p2"]["tags"] == []
    assert converted["processes"]["p4"]["serviceName"] == "unknown_service"
    assert converted["traceID"] == TRACE_ID
    assert converted["warnings"] is None
