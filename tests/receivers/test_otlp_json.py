"""OTLP/JSON as curl users, browsers and the OTLP specification write it."""

from __future__ import annotations

import json
from typing import Any

import pytest

import traceway.receivers.otlp_json as otlp_json
from traceway.model import Resource, Span, SpanKind
from traceway.receivers.otlp_decode import OtlpDecodeError, decode_json
from traceway.receivers.otlp_encode import encode_json


def export(*spans: dict[str, Any], **resource_spans: Any) -> bytes:
    """An OTLP/JSON body with one resource and one scope around ``spans``."""
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [
                            {"key": "service.name", "value": {"stringValue": "frontend"}}
                        ]
                    },
                    "scopeSpans": [{"scope": {"name": "manual"}, "spans": list(spans)}],
                    **resource_spans,
                }
            ]
        }
    ).encode()


def test_the_specification_example_shape_decodes() -> None:
    body = export(
        {
            "traceId": "5B8EFFF798038103D269B633813FC60C",
            "spanId": "EEE19B7EC3C1B174",
            "parentSpanId": "EEE19B7EC3C1B173",
            "name": "I'm a server span",
            "startTimeUnixNano": 1544712660000000000,
            "endTimeUnixNano": "1544712661000000000",
            "kind": 2,
            "attributes": [
                {"key": "my.span.attr", "value": {"stringValue": "some value"}},
                {"key": "retries", "value": {"intValue": "3"}},
            ],
        }
    )

    (span,) = decode_json(body).spans

    assert span.trace_id == "5b8efff798038103d269b633813fc60c"
    assert span.span_id == "eee19b7ec3c1b174"
    assert span.parent_span_id == "eee19b7ec3c1b173"
    assert span.kind is SpanKind.SERVER
    assert span.start_time_unix_nano == 1544712660000000000
    assert span.duration_ns == 1_000_000_000
    assert span.attributes == {"my.span.attr": "some value", "retries": 3}
    assert span.service_name == "frontend"
    assert span.scope.name == "manual"


def test_link_ids_are_hex_too() -> None:
    body = export(
        {
            "traceId": "0af7651916cd43dd8448eb211c80319c",
            "spanId": "b7ad6b7169203331",
            "links": [
                {"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7"}
            ],
        }
    )

    (span,) = decode_json(body).spans

    (link,) = span.links
    assert (link.trace_id, link.span_id) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")


def test_unknown_fields_are_ignored() -> None:
    body = export(
        {
            "traceId": "0af7651916cd43dd8448eb211c80319c",
            "spanId": "b7ad6b7169203331",
            "name": "checkout",
            "someFutureField": {"nested": [1, 2]},
        },
        futureResourceField=True,
    )

    (span,) = decode_json(body).spans

    assert span.name == "checkout"


def test_snake_case_keys_get_hex_ids_too() -> None:
    body = json.dumps(
        {
            "resource_spans": [
                {
                    "scope_spans": [
                        {
                            "spans": [
                                {
                                    "trace_id": "0af7651916cd43dd8448eb211c80319c",
                                    "span_id": "b7ad6b7169203331",
                                    "parent_span_id": "",
                                    "start_time_unix_nano": "5",
                                }
                            ]
                        }
                    ]
                }
            ]
        }
    ).encode()

    (span,) = decode_json(body).spans

    assert (span.trace_id, span.span_id, span.parent_span_id) == (
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
        "",
    )
    assert span.start_time_unix_nano == 5


def test_bad_ids_are_rejected_spans_not_a_failed_request() -> None:
    trace_id, span_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    body = export(
        {"traceId": trace_id, "spanId": span_id, "name": "kept"},
        {"traceId": "0af7651916cd43dd", "spanId": span_id},
        {"traceId": "W4779gOBA9JptjOBP8YMDA==", "spanId": span_id},  # base64, not hex
        {"traceId": trace_id, "spanId": "zzzzzzzzzzzzzzzz"},
        {"traceId": trace_id, "spanId": span_id, "parentSpanId": "not-hex!"},
        {"traceId": trace_id, "spanId": span_id, "links": [{"traceId": "xyz", "spanId": ""}]},
    )

    decoded = decode_json(body)

    assert [s.name for s in decoded.spans] == ["kept"]
    assert decoded.rejected_spans == 5
    assert "2 with an invalid trace_id (must be 16 bytes, 32 hex digits" in decoded.error_message
    assert "1 with an invalid span_id" in decoded.error_message
    assert "1 with an invalid parent_span_id" in decoded.error_message
    assert "1 with an invalid link trace_id" in decoded.error_message


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"not json", "not JSON", id="not-json"),
        pytest.param(b"[]", "not a JSON object", id="array"),
        pytest.param(b"\xff\xfe{", "not JSON", id="not-utf8"),
        pytest.param(b"[" * 100_000, "nested too deeply", id="deep-json"),
        pytest.param(
            export({"traceId": "0af7651916cd43dd8448eb211c80319c", "startTimeUnixNano": "soon"}),
            "startTimeUnixNano",
            id="bad-time",
        ),
        pytest.param(b'{"resourceSpans": {}}', "resourceSpans", id="wrong-shape"),
        pytest.param(
            export({"traceId": "0af7651916cd43dd8448eb211c80319c", "name": "\ud800"}),
            "spans",
            id="lone-surrogate",
        ),
    ],
)
def test_a_body_that_is_not_otlp_json_is_a_permanent_error(body: bytes, reason: str) -> None:
    with pytest.raises(OtlpDecodeError, match=reason):
        decode_json(body)


def test_deeply_nested_attribute_values_are_a_permanent_error() -> None:
    value: dict[str, Any] = {"intValue": "1"}
    for _ in range(200):
        value = {"arrayValue": {"values": [value]}}
    body = export(
        {
            "traceId": "0af7651916cd43dd8448eb211c80319c",
            "spanId": "b7ad6b7169203331",
            "attributes": [{"key": "deep", "value": value}],
        }
    )

    with pytest.raises(OtlpDecodeError):
        decode_json(body)


def test_encoded_json_follows_the_otlp_deviations_from_protobuf_json() -> None:
    span = Span(
        trace_id="5b8efff798038103d269b633813fc60c",
        span_id="eee19b7ec3c1b174",
        parent_span_id="eee19b7ec3c1b173",
        name="GET /",
        start_time_unix_nano=1544712660000000001,
        end_time_unix_nano=1544712661000000000,
        kind=SpanKind.SERVER,
        resource=Resource({"service.name": "frontend"}),
    )

    document = json.loads(encode_json([span]))

    (resource_spans,) = document["resourceSpans"]
    (encoded,) = resource_spans["scopeSpans"][0]["spans"]
    assert encoded["traceId"] == span.trace_id
    assert encoded["spanId"] == span.span_id
    assert encoded["parentSpanId"] == span.parent_span_id
    assert encoded["kind"] == 2
    # A string: as a JSON number it would lose its last digits in a browser.
    assert encoded["startTimeUnixNano"] == "1544712660000000001"
    assert resource_spans["resource"]["attributes"] == [
        {"key": "service.name", "value": {"stringValue": "frontend"}}
    ]


def test_public_surface() -> None:
    assert sorted(otlp_json.__all__) == ["request_from_json", "request_to_json"]
