"""Jaeger Thrift spans become traceway spans by the OpenTelemetry Collector's rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import thriftpy2

import traceway.receivers
from traceway.model import SpanKind, StatusCode
from traceway.receivers.jaeger_decode import spans_from_batch

JAEGER: Any = thriftpy2.load(
    str(Path(traceway.receivers.__file__).with_name("idl") / "jaeger.thrift")
)
START_US = 1_700_000_000_000_000


def tag(key: str, value: object) -> Any:
    types = JAEGER.TagType
    if isinstance(value, bool):
        return JAEGER.Tag(key=key, vType=types.BOOL, vBool=value)
    if isinstance(value, int):
        return JAEGER.Tag(key=key, vType=types.LONG, vLong=value)
    if isinstance(value, float):
        return JAEGER.Tag(key=key, vType=types.DOUBLE, vDouble=value)
    if isinstance(value, bytes):
        return JAEGER.Tag(key=key, vType=types.BINARY, vBinary=value)
    return JAEGER.Tag(key=key, vType=types.STRING, vStr=value)


def span(span_id: int = 2, **fields: Any) -> Any:
    defaults: dict[str, Any] = {
        "traceIdLow": 0x1234,
        "traceIdHigh": 0,
        "spanId": span_id,
        "parentSpanId": 0,
        "operationName": "GET /orders",
        "flags": 1,
        "startTime": START_US,
        "duration": 250_000,
    }
    return JAEGER.Span(**{**defaults, **fields})


def batch(*spans: Any, process: Any = None) -> Any:
    if process is None:
        process = JAEGER.Process(serviceName="orders")
    return JAEGER.Batch(process=process, spans=list(spans))


def only(*spans: Any, process: Any = None) -> Any:
    decoded = spans_from_batch(batch(*spans, process=process))
    assert decoded.rejected_spans == 0, decoded.error_message
    (result,) = decoded.spans
    return result


def test_process_becomes_the_resource_with_typed_tags() -> None:
    process = JAEGER.Process(
        serviceName="orders",
        tags=[tag("hostname", "web-1"), tag("ip", "10.0.0.7"), tag("jaeger.version", "Go-2.30")],
    )
    result = only(span(), process=process)
    assert result.service_name == "orders"
    assert dict(result.resource.attributes) == {
        "service.name": "orders",
        "host.name": "web-1",
        "ip": "10.0.0.7",
        "jaeger.version": "Go-2.30",
    }


def test_a_64_bit_trace_id_is_padded_to_128_bits() -> None:
    assert only(span(traceIdLow=-1)).trace_id == "0" * 16 + "f" * 16
    wide = only(span(traceIdHigh=0x0102030405060708, traceIdLow=0x1112131415161718))
    assert wide.trace_id == "01020304050607081112131415161718"
    assert only(span(span_id=-2)).span_id == "fffffffffffffffe"


def test_times_are_microseconds() -> None:
    result = only(span())
    assert result.start_time_unix_nano == START_US * 1000
    assert result.duration_ns == 250_000_000


def test_tags_keep_their_types_and_known_tags_become_fields() -> None:
    result = only(
        span(
            tags=[
                tag("retries", 3),
                tag("ratio", 0.5),
                tag("cached", False),
                tag("blob", b"\x00\xff"),
                tag("span.kind", "client"),
                tag("otel.scope.name", "io.opentracing.contrib"),
                tag("otel.scope.version", "1.2"),
                tag("w3c.tracestate", "vendor=1"),
                tag("text", b"caf\xc3\xa9".decode()),
            ]
        )
    )
    assert dict(result.attributes) == {
        "retries": 3,
        "ratio": 0.5,
        "cached": False,
        "blob": b"\x00\xff",
        "text": "café",
    }
    assert result.kind is SpanKind.CLIENT
    assert (result.scope.name, result.scope.version) == ("io.opentracing.contrib", "1.2")
    assert result.trace_state == "vendor=1"


@pytest.mark.parametrize(
    ("tags", "status"),
    [
        ([tag("error", True)], (StatusCode.ERROR, "")),
        ([tag("error", True), tag("otel.status_description", "boom")], (StatusCode.ERROR, "boom")),
        ([tag("otel.status_code", "OK")], (StatusCode.OK, "")),
        (
            [tag("otel.status_code", "ERROR"), tag("otel.status_description", "no stock")],
            (StatusCode.ERROR, "no stock"),
        ),
        (
            [tag("http.status_code", 503), tag("http.status_message", "down")],
            (StatusCode.ERROR, "down"),
        ),
        ([tag("http.status_code", "404"), tag("span.kind", "client")], (StatusCode.ERROR, "")),
        ([tag("http.status_code", 404), tag("span.kind", "server")], (StatusCode.UNSET, "")),
        ([tag("http.status_code", 200)], (StatusCode.UNSET, "")),
        ([tag("error", False)], (StatusCode.UNSET, "")),
    ],
)
def test_status_follows_the_collector(tags: list[Any], status: tuple[StatusCode, str]) -> None:
    result = only(span(tags=tags))
    assert (result.status_code, result.status_message) == status
    assert "otel.status_code" not in result.attributes
    assert "otel.status_description" not in result.attributes
    if status[0] is StatusCode.ERROR:
        assert "error" not in result.attributes


def test_an_error_tag_that_is_false_stays_an_attribute() -> None:
    assert only(span(tags=[tag("error", False)])).attributes["error"] is False


def test_logs_become_events_named_by_their_event_field() -> None:
    log = JAEGER.Log(
        timestamp=START_US + 10,
        fields=[tag("event", "cache miss"), tag("cache.key", "user:42"), tag("size", 7)],
    )
    unnamed = JAEGER.Log(timestamp=START_US + 20, fields=[tag("message", "hello")])
    (named, other) = only(span(logs=[log, unnamed])).events
    assert (named.time_unix_nano, named.name) == ((START_US + 10) * 1000, "cache miss")
    assert dict(named.attributes) == {"cache.key": "user:42", "size": 7}
    assert (other.name, dict(other.attributes)) == ("", {"message": "hello"})


def ref(ref_type: int, span_id: int, trace_low: int = 0x1234) -> Any:
    return JAEGER.SpanRef(refType=ref_type, traceIdLow=trace_low, traceIdHigh=0, spanId=span_id)


def test_parent_span_id_is_the_parent_and_other_references_are_links() -> None:
    result = only(
        span(
            parentSpanId=9,
            references=[ref(0, 9), ref(1, 5), ref(0, 6, trace_low=0x99)],
        )
    )
    assert result.parent_span_id == f"{9:016x}"
    assert [
        (link.trace_id[-4:], link.span_id[-1], dict(link.attributes)) for link in result.links
    ] == [
        ("1234", "5", {"opentracing.ref_type": "follows_from"}),
        ("0099", "6", {"opentracing.ref_type": "child_of"}),
    ]


@pytest.mark.parametrize(
    ("references", "parent"),
    [
        ([ref(1, 5), ref(0, 6)], 6),  # CHILD_OF first
        ([ref(1, 5)], 5),  # else FOLLOWS_FROM
        ([ref(0, 6, trace_low=0x99)], 0),  # only references in the same trace
    ],
)
def test_without_parent_span_id_a_reference_is_the_parent(
    references: list[Any], parent: int
) -> None:
    result = only(span(references=references))
    assert result.parent_span_id == (f"{parent:016x}" if parent else "")


def test_spans_without_usable_ids_or_times_are_rejected_and_the_rest_kept() -> None:
    decoded = spans_from_batch(
        batch(
            span(span_id=1),
            span(span_id=0),
            span(span_id=3, traceIdLow=0),
            span(span_id=4, startTime=-5),
            span(span_id=5, traceIdLow=None),
        )
    )
    assert [s.span_id for s in decoded.spans] == [f"{1:016x}"]
    assert decoded.rejected_spans == 4
    assert "zero span id" in decoded.error_message
    assert "zero trace id" in decoded.error_message
    assert "startTime" in decoded.error_message


def test_a_batch_without_process_has_an_unknown_service() -> None:
    decoded = spans_from_batch(JAEGER.Batch(process=None, spans=[span()]))
    assert decoded.spans[0].service_name == "unknown_service"


def test_missing_optional_values_read_as_empty() -> None:
    result = only(
        span(
            operationName=None,
            duration=None,
            flags=None,
            tags=[JAEGER.Tag(key="k", vType=JAEGER.TagType.STRING), JAEGER.Tag(key="t", vType=9)],
        )
    )
    assert result.name == ""
    assert result.duration_ns == 0
    assert dict(result.attributes) == {"k": "", "t": "<Unknown Jaeger TagType 9>"}
