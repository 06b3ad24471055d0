"""Property-based fuzzing of the OTLP decoders: any input is spans or OtlpDecodeError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traceway.model import is_valid_span_id, is_valid_trace_id
from traceway.receivers.otlp_decode import (
    DecodedSpans,
    OtlpDecodeError,
    decode_json,
    decode_protobuf,
)
from traceway.receivers.otlp_encode import encode_protobuf

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
hexish = st.one_of(st.text("0123456789abcdefABCDEF", max_size=34), st.text(max_size=20))
otlp_keys = st.sampled_from(
    [
        "traceId", "spanId", "parentSpanId", "name", "kind", "startTimeUnixNano",
        "endTimeUnixNano", "attributes", "events", "links", "status", "traceState", "flags",
    ]
)  # fmt: skip
any_value = st.recursive(
    st.one_of(
        st.builds(lambda v: {"stringValue": v}, st.text(max_size=20)),
        st.builds(lambda v: {"intValue": v}, st.one_of(st.integers(), st.text(max_size=8))),
        st.builds(lambda v: {"doubleValue": v}, st.one_of(st.floats(), st.text(max_size=5))),
        st.builds(lambda v: {"boolValue": v}, json_scalars),
        st.builds(lambda v: {"bytesValue": v}, st.text(max_size=12)),
        json_values,
    ),
    lambda inner: st.one_of(
        st.builds(lambda vs: {"arrayValue": {"values": vs}}, st.lists(inner, max_size=3)),
        st.builds(
            lambda kvs: {"kvlistValue": {"values": [{"key": k, "value": v} for k, v in kvs]}},
            st.lists(st.tuples(st.text(max_size=8), inner), max_size=3),
        ),
    ),
    max_leaves=10,
)
spans = st.dictionaries(
    otlp_keys,
    st.one_of(
        hexish,
        json_values,
        st.lists(st.fixed_dictionaries({"key": st.text(max_size=10), "value": any_value})),
    ),
    max_size=8,
)
requests = st.builds(
    lambda spans, resource: {
        "resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]
    },
    st.lists(spans, max_size=4),
    st.one_of(json_values, st.just({"attributes": []})),
)


def check(result: DecodedSpans) -> None:
    for span in result.spans:
        assert is_valid_trace_id(span.trace_id)
        assert is_valid_span_id(span.span_id)
    assert result.rejected_spans >= 0
    assert bool(result.rejected_spans) == bool(result.error_message)


def decode_or_refuse(decode: Any, body: bytes) -> None:
    try:
        result = decode(body)
    except OtlpDecodeError as exc:
        message = str(exc)
        assert message, "a refusal must say what was wrong"
        return
    check(result)


@FUZZ
@given(st.binary(max_size=2_000))
def test_any_bytes_as_protobuf(body: bytes) -> None:
    decode_or_refuse(decode_protobuf, body)


@FUZZ
@given(st.binary(max_size=2_000))
def test_any_bytes_as_json(body: bytes) -> None:
    decode_or_refuse(decode_json, body)


@FUZZ
@given(requests)
def test_otlp_shaped_json_with_wrong_types(document: dict[str, Any]) -> None:
    decode_or_refuse(decode_json, json.dumps(document).encode())


@FUZZ
@given(st.binary(min_size=1, max_size=200), st.integers(min_value=0, max_value=400))
def test_corrupted_real_payloads(noise: bytes, position: int) -> None:
    from traceway.model import Span

    body = bytearray(
        encode_protobuf(
            [
                Span(
                    trace_id="5b8efff798038103d269b633813fc60c",
                    span_id="eee19b7ec3c1b174",
                    name="GET /orders",
                    start_time_unix_nano=1,
                    end_time_unix_nano=2,
                    attributes={"n": 1, "s": "x", "l": [1, 2]},
                )
            ]
        )
    )
    position %= len(body)
    body[position : position + len(noise)] = noise
    decode_or_refuse(decode_protobuf, bytes(body))
    decode_or_refuse(decode_protobuf, bytes(body[:position]))


def test_deep_nesting_and_huge_counts_are_refused_or_decoded_not_crashed() -> None:
    depth = 5_000
    deep = '{"arrayValue": {"values": [' * depth + '{"stringValue": "leaf"}' + "]}}" * depth
    span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"}
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
    body = body.replace('"spanId"', '"attributes": [{"key": "deep", "value": DEEP}], "spanId"')
    decode_or_refuse(decode_json, body.replace("DEEP", deep).encode())

    many: dict[str, Any] = {
        **span,
        "attributes": [{"key": f"k{i}", "value": {"intValue": i}} for i in range(100_000)],
    }
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [many]}]}]}).encode()
    decode_or_refuse(decode_json, body)


def test_invalid_utf8_in_json_and_protobuf_strings() -> None:
    decode_or_refuse(
        decode_json, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "\xff\xfe"}]}]}]}'
    )
    # field 1 (resource_spans) → field 2 (scope_spans) → field 2 (spans) → field 5 (name)
    name = b"\x2a\x02\xff\xfe"
    span = b"\x12" + bytes([len(name)]) + name
    scope = b"\x12" + bytes([len(span)]) + span
    decode_or_refuse(decode_protobuf, b"\x0a" + bytes([len(scope)]) + scope)
