"""The native OTLP decoder against the Python one: the same spans for every body it takes.

``decode_native`` must give exactly what ``decode_protobuf_python`` gives (Arrow table,
resources, scopes, rejections) or None, leaving the body to Python. What real exporters
send must be taken natively (not None); what it leaves to Python must come back None,
and ``decode_protobuf`` must then answer as the Python decoder does.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import math
import random
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.receivers.otlp_strategies import (
    DOUBLE_EDGES,
    INT64_EDGES,
    INVALID_UTF8,
    TRICKY_KEYS,
    TRICKY_TEXTS,
    float_of,
    natively_decodable,
    requests,
    wire_requests,
)
from tests.receivers.otlp_wire import (
    SPAN_ID,
    TRACE_ID,
    assert_same_decoding,
    fixed32,
    fixed64,
    length_delimited,
    mutate,
    native_divergence,
    request_with_span,
    shown,
    tag,
    uint,
)
from traceway.receivers.otlp_decode import (
    DecodedSpans,
    OtlpDecodeError,
    decode_native,
    decode_protobuf,
    decode_protobuf_python,
)
from traceway.receivers.otlp_native import NATIVE_AVAILABLE
from traceway.storage.span_batch import SpanBatch

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REPO = Path(__file__).parents[2]
ld = length_delimited


def decoded(body: bytes) -> DecodedSpans:
    """The Python decoding of ``body``, after checking the native one is the same."""
    want = decode_protobuf_python(body)
    assert_same_decoding(decode_native(body), want, body)
    assert_same_decoding(decode_protobuf(body), want, body)
    return want


def left_to_python(body: bytes) -> None:
    """``body`` is not taken natively, and ``decode_protobuf`` answers as Python does."""
    assert decode_native(body) is None, f"native decoder took a body for Python\n{shown(body)}"
    try:
        want = decode_protobuf_python(body)
    except OtlpDecodeError:
        with pytest.raises(OtlpDecodeError):
            decode_protobuf(body)
        return
    assert_same_decoding(decode_protobuf(body), want, body)


def same_or_left(body: bytes) -> None:
    """The native decoder may take ``body`` or leave it; taken, it must decode the same."""
    problem = native_divergence(decode_native, decode_protobuf_python, body)
    assert problem is None, f"{problem}\n{shown(body)}"


# --- building requests with the generated protobuf classes ---


def value(item: Any) -> AnyValue:
    if item is None:
        return AnyValue()
    if isinstance(item, AnyValue):
        return item
    if isinstance(item, str):
        return AnyValue(string_value=item)
    if isinstance(item, bool):
        return AnyValue(bool_value=item)
    if isinstance(item, int):
        return AnyValue(int_value=item)
    if isinstance(item, float):
        return AnyValue(double_value=item)
    if isinstance(item, bytes):
        return AnyValue(bytes_value=item)
    if isinstance(item, list):
        return AnyValue(array_value=ArrayValue(values=[value(v) for v in item]))
    return AnyValue(kvlist_value=KeyValueList(values=attributes(item)))


def attributes(items: dict[str, Any] | Iterable[tuple[str, Any]]) -> list[KeyValue]:
    pairs = items.items() if isinstance(items, dict) else items
    return [KeyValue(key=key, value=value(item)) for key, item in pairs]


def span(number: int = 1, **fields: Any) -> trace_pb2.Span:
    """A valid span, ``number`` making its span id unique, with ``fields`` set."""
    defaults: dict[str, Any] = {
        "trace_id": TRACE_ID,
        "span_id": number.to_bytes(8, "big"),
        "name": "GET /orders",
        "start_time_unix_nano": 1_700_000_000_000_000_000,
        "end_time_unix_nano": 1_700_000_000_250_000_000,
    }
    return trace_pb2.Span(**{**defaults, **fields})


def export(
    *spans: trace_pb2.Span,
    resource: Resource | None = None,
    scope: InstrumentationScope | None = None,
) -> bytes:
    scope_spans = trace_pb2.ScopeSpans(scope=scope, spans=spans)
    resource_spans = trace_pb2.ResourceSpans(resource=resource, scope_spans=[scope_spans])
    return ExportTraceServiceRequest(resource_spans=[resource_spans]).SerializeToString()


def each_value_kind() -> list[tuple[str, Any]]:
    """One attribute per scalar value kind and edge, under distinct keys."""
    items: list[tuple[str, Any]] = [(f"i{n}", item) for n, item in enumerate(INT64_EDGES)]
    items += [(f"d{n}", item) for n, item in enumerate(DOUBLE_EDGES)]
    items += [(f"s{n}", item) for n, item in enumerate(TRICKY_TEXTS)]
    items += [("true", True), ("false", False), ("none", None), ("empty", b"")]
    items += [("b1", b"\x00"), ("b2", b"\xff\xfe"), ("b3", b"abc"), ("b7", bytes(range(7)))]
    items += [
        ("strindex", AnyValue(string_value_strindex=5)),
        ("neg", AnyValue(string_value_strindex=-1)),
    ]
    return items


# --- bodies the native decoder must take ---


def _many_owners() -> bytes:
    """Resources and scopes of every content, several per request, some equal."""
    contents: list[dict[str, Any]] = [
        {"service.name": "orders", "n": 1, "ratio": math.nan, "neg": -0.0, "raw": b"\x00"},
        {"tags": ["a", 1, 2.5, None], "map": {"k": {"deep": [b"x"]}}, "\x1b\x1f": "esc"},
        {},
        {"service.name": "orders", "n": 1, "ratio": math.nan, "neg": -0.0, "raw": b"\x00"},
    ]
    request = ExportTraceServiceRequest()
    number = 0
    for index, content in enumerate(contents):
        resource_spans = request.resource_spans.add(schema_url=f"https://schema/{index % 3}")
        if index != 2:
            resource_spans.resource.attributes.extend(attributes(content))
            resource_spans.resource.attributes.extend(attributes([("dup", 1), ("dup", "2")]))
            resource_spans.resource.dropped_attributes_count = index % 3
        for version in ("1.0", "", "1.0"):
            scope_spans = resource_spans.scope_spans.add(schema_url=version)
            scope_spans.scope.name = f"lib{index}"
            scope_spans.scope.version = version
            scope_spans.scope.attributes.extend(attributes({"a": [1], "x": math.inf}))
            for _ in range(2):
                number += 1
                scope_spans.spans.append(span(number, attributes=attributes({"n": number})))
    request.resource_spans.add()  # no scope spans at all
    request.resource_spans.add().scope_spans.add()  # a scope without spans
    return request.SerializeToString()


def _unknown_fields_everywhere() -> bytes:
    unknown = uint(99, 7) + fixed64(100, 1) + ld(101, b"\x08\x01") + fixed32(2**29 - 1, 5)
    any_value = ld(1, "v") + unknown
    key_value = ld(1, "k") + unknown + ld(2, any_value) + uint(3, 4)  # 3: key_strindex
    event = fixed64(1, 5) + unknown + ld(2, "ev") + ld(3, key_value) + uint(4, 1)
    link = ld(1, TRACE_ID) + ld(2, SPAN_ID) + unknown + ld(4, key_value) + fixed32(6, 1)
    status = uint(1, 2) + ld(2, "bad") + unknown + uint(3, 2)  # 1: the deprecated code
    span_fields = [ld(1, TRACE_ID), unknown, ld(2, SPAN_ID), ld(9, key_value), ld(11, event)]
    span_fields += [ld(13, link), ld(15, status), unknown]
    scope = ld(1, "lib") + unknown + ld(3, key_value)
    resource = ld(1, key_value) + unknown + uint(2, 3)
    scope_spans = ld(1, scope) + unknown + ld(2, b"".join(span_fields)) + ld(3, "s")
    resource_spans = ld(1, resource) + unknown + ld(2, scope_spans) + ld(3, "r")
    return unknown + ld(1, resource_spans) + unknown


def _last_wins() -> bytes:
    """Every scalar field twice: protobuf keeps the last."""
    key_value = ld(1, "first") + ld(1, "k") + ld(2, uint(3, 1) + uint(3, 2))
    event = fixed64(1, 1) + fixed64(1, 2) + ld(2, "a") + ld(2, "b") + uint(4, 1) + uint(4, 2)
    link_id = ld(1, bytes(3)) + ld(1, TRACE_ID) + ld(2, SPAN_ID) + ld(2, b"")
    link = link_id + ld(3, "x") + ld(3, "y") + fixed32(6, 1) + fixed32(6, 3)
    status = ld(2, "m1") + ld(2, "m2") + uint(3, 1) + uint(3, 2)
    return request_with_span(
        ld(1, bytes(16)), ld(1, TRACE_ID), ld(2, b"x"), ld(2, SPAN_ID),
        ld(4, b"bad"), ld(4, SPAN_ID), ld(4, bytes(8)), ld(5, "one"), ld(5, "two"),
        uint(6, 1), uint(6, 3), fixed64(7, 1), fixed64(7, 9), fixed64(8, 2), fixed64(8, 8),
        ld(9, key_value), uint(10, 1), uint(10, 4), ld(11, event), uint(12, 5), uint(12, 6),
        ld(13, link), uint(14, 7), uint(14, 8), ld(15, status), ld(3, "s1"), ld(3, "s2"),
        fixed32(16, 1), fixed32(16, 0x101),
    )  # fmt: skip


def _reversed_fields() -> bytes:
    fields = [
        ld(1, TRACE_ID), ld(2, SPAN_ID), ld(3, "st"), ld(4, SPAN_ID[::-1]), ld(5, "name"),
        uint(6, 2), fixed64(7, 10), fixed64(8, 20), ld(9, ld(1, "k") + ld(2, ld(1, "v"))),
        uint(10, 1), ld(11, fixed64(1, 15) + ld(2, "e")), uint(12, 2),
        ld(13, ld(1, TRACE_ID)), uint(14, 3), ld(15, uint(3, 1)), fixed32(16, 1),
    ]  # fmt: skip
    return request_with_span(*reversed(fields), ids=False)


HANDLED: dict[str, bytes] = {
    "empty request": b"",
    "resource without scopes": ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(resource=Resource(attributes=attributes({"a": 1})))]
    ).SerializeToString(),
    "no resource, no scope": export(span()),
    "many resources and scopes": _many_owners(),
    "big uncached resource": export(
        span(),
        resource=Resource(attributes=attributes({f"k{n}": "v" * 50 for n in range(100)})),
        scope=InstrumentationScope(name="s" * 5000, attributes=attributes({"x": math.nan})),
    ),
    "every value kind": export(span(attributes=attributes(each_value_kind()))),
    "tricky keys": export(span(attributes=attributes({key: key for key in TRICKY_KEYS}))),
    "long string": export(span(name="n" * 70_000, attributes=attributes({"s": "é" * 100_000}))),
    "long bytes": export(span(attributes=attributes({"b": bytes(range(256)) * 40}))),
    "a key of another type in each span": export(
        *(
            span(n, attributes=attributes({"k": item}))
            for n, item in enumerate(["x", 5, "", 0, True, 0.0, b"", None, -0.0, "y", 7], start=1)
        )
    ),
    "events": export(
        span(
            events=[
                trace_pb2.Span.Event(
                    time_unix_nano=2**64 - 1,
                    name=TRICKY_TEXTS[4] + '"\\',
                    attributes=attributes(each_value_kind()),
                    dropped_attributes_count=2**32 - 1,
                ),
                trace_pb2.Span.Event(),
                trace_pb2.Span.Event(name="🚀", attributes=attributes({k: k for k in TRICKY_KEYS})),
            ]
        ),
        span(2, events=[trace_pb2.Span.Event(time_unix_nano=n, name="e") for n in range(100)]),
    ),
    "links": export(
        span(
            links=[
                trace_pb2.Span.Link(
                    trace_id=TRACE_ID,
                    span_id=SPAN_ID,
                    trace_state="rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
                    attributes=attributes(each_value_kind()),
                    dropped_attributes_count=3,
                    flags=2**32 - 1,
                ),
                trace_pb2.Span.Link(),
                trace_pb2.Span.Link(trace_id=bytes(16), span_id=bytes(8), trace_state='"\n'),
                trace_pb2.Span.Link(span_id=SPAN_ID, flags=0x101),
            ]
        )
    ),
    "status codes and messages": export(
        *(
            span(n, status=trace_pb2.Status(code=code, message=TRICKY_TEXTS[n]))  # type: ignore[arg-type]
            for n, code in enumerate([0, 1, 2, 3, 99, -1, 2**31 - 1, -(2**31)], start=1)
        ),
        span(9),
    ),
    "kinds": export(
        *(span(n, kind=kind) for n, kind in enumerate([0, 1, 2, 3, 4, 5, 6, 99, -1, -(2**31)], 1))
    ),
    "trace state, flags, dropped counts": export(
        span(1, trace_state="a=1,b=2", flags=0x101, dropped_attributes_count=2**32 - 1),
        span(2, trace_state="ü", flags=2**32 - 1, dropped_events_count=1, dropped_links_count=9),
    ),
    "parents": export(span(1), span(2, parent_span_id=bytes(8)), span(3, parent_span_id=SPAN_ID)),
    "many spans": export(
        *(span(n, attributes=attributes({"n": n, "s": str(n), "f": n / 7})) for n in range(1, 3001))
    ),
    # 128: the SDKs' default attribute count limit, and the most the C decoder takes
    "128 attributes": export(span(attributes=attributes({f"k{n}": n for n in range(128)}))),
    "128 event attributes": export(
        span(events=[trace_pb2.Span.Event(attributes=attributes({f"k{n}": n for n in range(128)}))])
    ),
    "unknown fields everywhere": _unknown_fields_everywhere(),
    "repeated scalar fields, last wins": _last_wins(),
    "fields in reverse order": _reversed_fields(),
    "enum and uint32 varints over 32 bits": request_with_span(
        uint(6, 2**32 + 2),
        uint(10, 2**40 + 5),
        uint(12, 2**64 - 1),
        uint(14, 2**32),
        ld(15, uint(3, 2**32 + 1)),
        ld(11, uint(4, 2**33 + 3)),
        ld(13, uint(5, 2**35 + 1)),
    ),
    "one resource in two encodings": ld(1, ld(1, ld(1, ld(1, "k"))))
    + ld(1, ld(1, ld(1, ld(1, "k")) + uint(99, 1))),
    "status with no fields": request_with_span(ld(15, b"")),
    "attribute without a value": request_with_span(
        ld(9, ld(1, "k")), ld(9, ld(1, "j") + ld(2, b""))
    ),
}


@pytest.mark.parametrize("body", HANDLED.values(), ids=HANDLED.keys())
def test_what_exporters_send_is_decoded_natively_as_in_python(body: bytes) -> None:
    decoded(body)


def batch(body: bytes) -> SpanBatch:
    """The spans of a body the native decoder takes (checked as ``decoded``)."""
    spans = decoded(body).spans
    assert isinstance(spans, SpanBatch)
    return spans


def test_the_cases_exercise_what_they_name() -> None:
    """Guards the cases above against testing nothing (e.g. all spans rejected)."""
    (entries,) = batch(HANDLED["every value kind"]).table.column("attributes").to_pylist()
    inf, nan = DOUBLE_EDGES.index(math.inf), DOUBLE_EDGES.index(math.nan)
    expected = {"d0\x1fd0.0", "d1\x1fd-0.0", "d7\x1fd1e+16", "d10\x1fd1e-05", "none\x1fn"}
    expected |= {f"d{inf}\x1fdinf", f"d{nan}\x1fdnan", "b3\x1fxYWJj", "strindex\x1fn"}
    assert expected <= set(entries)
    events = batch(HANDLED["events"]).table.column("events").to_pylist()[0]
    assert f'"d{nan}":NaN' in events and f'"d{inf}":Infinity' in events and "\\u001f" in events
    assert len(batch(HANDLED["many resources and scopes"]).resources) == 4
    last = batch(HANDLED["repeated scalar fields, last wins"]).table.to_pylist()[0]
    assert (last["name"], last["kind"], last["parent_span_id"]) == ("two", 3, None)
    assert batch(HANDLED["enum and uint32 varints over 32 bits"])[0].kind == 2


def test_random_doubles_and_integers_are_written_as_python_writes_them() -> None:
    rng = random.Random(5)
    doubles = [float_of(rng.getrandbits(64)) for _ in range(6000)]
    doubles += [rng.uniform(-1e6, 1e6) for _ in range(2000)] + [n / 10 for n in range(2000)]
    integers = [rng.getrandbits(64) - 2**63 for _ in range(3000)] + list(range(-500, 500))
    spans = [
        span(
            n + 1,
            attributes=attributes({"d": number, "i": integers[n % len(integers)]}),
            events=[trace_pb2.Span.Event(attributes=attributes({"d": number}))],
        )
        for n, number in enumerate(doubles)
    ]
    decoded(export(*spans))


# --- bodies left to the Python decoder ---


def _invalid_utf8_bodies() -> dict[str, bytes]:
    bad = INVALID_UTF8[0]
    key_value = ld(1, "k") + ld(2, ld(1, "v"))
    places = {
        "span name": request_with_span(ld(5, b"GET " + bad)),
        "trace state": request_with_span(ld(3, bad)),
        "status message": request_with_span(ld(15, ld(2, bad))),
        "attribute key": request_with_span(ld(9, ld(1, bad) + ld(2, ld(1, "v")))),
        "attribute value": request_with_span(ld(9, ld(1, "k") + ld(2, ld(1, bad)))),
        "shadowed attribute value": request_with_span(
            ld(9, ld(1, "k") + ld(2, ld(1, bad) + uint(3, 1)))
        ),
        "event name": request_with_span(ld(11, ld(2, bad))),
        "event key": request_with_span(ld(11, ld(3, ld(1, bad)))),
        "event value": request_with_span(ld(11, ld(3, ld(1, "k") + ld(2, ld(1, bad))))),
        "link trace state": request_with_span(ld(13, ld(3, bad))),
        "link value": request_with_span(ld(13, ld(4, ld(1, "k") + ld(2, ld(1, bad))))),
        "resource value": ld(1, ld(1, ld(1, ld(1, "k") + ld(2, ld(1, bad))))),
        "resource schema url": ld(1, ld(3, bad)),
        "scope name": ld(1, ld(2, ld(1, ld(1, bad)))),
        "scope version": ld(1, ld(2, ld(1, ld(2, bad) + ld(3, key_value)))),
        "scope schema url": ld(1, ld(2, ld(3, bad))),
    }
    for sequence in INVALID_UTF8[1:]:
        places[f"name {sequence!r}"] = request_with_span(ld(5, sequence))
    return {f"invalid UTF-8 in {place}": body for place, body in places.items()}


def _deep_array(depth: int) -> bytes:
    """An attribute whose value is an array in an array ... ``depth`` times."""
    value = ld(1, "leaf")
    for _ in range(depth):
        value = ld(5, ld(1, value))
    return ld(1, "k") + ld(2, value)


def _two_spans(bad: trace_pb2.Span) -> bytes:
    return export(span(1), bad, span(3))


VALID = request_with_span(ld(5, "GET /"), ld(9, ld(1, "k") + ld(2, uint(3, 1))))
LEFT_TO_PYTHON: dict[str, bytes] = {
    "129 attributes": export(span(attributes=attributes({f"k{n}": n for n in range(129)}))),
    "2000 link attributes": export(
        span(links=[trace_pb2.Span.Link(attributes=attributes({f"k{n}": n for n in range(2000)}))])
    ),
    "array value": export(span(attributes=attributes({"a": [1, "x"]}))),
    "empty array value": export(span(attributes=attributes({"a": []}))),
    "kvlist value": export(span(attributes=attributes({"m": {"k": 1}}))),
    "array in an event": export(
        span(events=[trace_pb2.Span.Event(attributes=attributes({"a": [1]}))])
    ),
    "kvlist in a link": export(span(links=[trace_pb2.Span.Link(attributes=attributes({"m": {}}))])),
    "duplicate span key": export(span(attributes=attributes([("k", 1), ("k", "2")]))),
    "duplicate key, same value": export(
        span(attributes=attributes([("k", 1), ("j", 0), ("k", 1)]))
    ),
    "duplicate event key": export(
        span(events=[trace_pb2.Span.Event(attributes=attributes([("k", 1), ("k", 2.5)]))])
    ),
    "duplicate link key": export(
        span(links=[trace_pb2.Span.Link(attributes=attributes([("k", True), ("k", None)]))])
    ),
    "span key with ESC": export(span(attributes=attributes({"a\x1bb": 1}))),
    "span key with US": export(span(attributes=attributes({"a\x1fb": "x"}))),
    **_invalid_utf8_bodies(),
    "trace id of 15 bytes": _two_spans(span(2, trace_id=TRACE_ID[:15])),
    "trace id of 17 bytes": _two_spans(span(2, trace_id=TRACE_ID + b"\x01")),
    "no trace id": _two_spans(span(2, trace_id=b"")),
    "all-zero trace id": _two_spans(span(2, trace_id=bytes(16))),
    "span id of 7 bytes": _two_spans(span(2, span_id=SPAN_ID[:7])),
    "no span id": _two_spans(span(2, span_id=b"")),
    "all-zero span id": _two_spans(span(2, span_id=bytes(8))),
    "parent id of 4 bytes": _two_spans(span(2, parent_span_id=SPAN_ID[:4])),
    "parent id of 16 zero bytes": _two_spans(span(2, parent_span_id=bytes(16))),
    "link trace id of 8 bytes": _two_spans(span(2, links=[trace_pb2.Span.Link(trace_id=SPAN_ID)])),
    "link span id of 16 bytes": _two_spans(span(2, links=[trace_pb2.Span.Link(span_id=TRACE_ID)])),
    "truncated": VALID[:-3],
    "length past the end": VALID[:1] + bytes([VALID[1] + 1]) + VALID[2:],
    "field number 0": uint(0, 1) + VALID,
    "11-byte varint": VALID + tag(99, 0) + b"\x80" * 10 + b"\x00",
    "end group alone": VALID + tag(99, 4),
    "wire type 6": VALID + tag(99, 6),
    "wire type 7": VALID + tag(99, 7),
    "tag of 6 bytes": request_with_span(b"\xaa\x80\x80\x80\x80\x00" + b"\x01x"),
    "tag of 10 bytes": request_with_span(b"\xaa" + b"\x80" * 8 + b"\x00" + b"\x01x"),
    "length of 6 bytes": request_with_span(b"\x2a\x81\x80\x80\x80\x80\x00x"),
    "length of 10 bytes": request_with_span(b"\x2a\x81" + b"\x80" * 8 + b"\x00x"),
    "tag over 32 bits": request_with_span(b"\xaa\x80\x80\x80\x10\x01x"),
    "group in a span": request_with_span(tag(99, 3) + uint(5, 1) + tag(99, 4)),
    "group at the top": tag(99, 3) + tag(99, 4) + VALID,
    "group in a value": request_with_span(ld(9, ld(1, "k") + ld(2, tag(9, 3) + tag(9, 4)))),
    "name as a varint": request_with_span(uint(5, 1)),
    "trace id as fixed64": request_with_span(fixed64(1, 1)),
    "kind as bytes": request_with_span(ld(6, b"\x01")),
    "start time as varint": request_with_span(uint(7, 1)),
    "attributes as varint": request_with_span(uint(9, 1)),
    "status as varint": request_with_span(uint(15, 1)),
    "flags as varint": request_with_span(uint(16, 1)),
    "event time as varint": request_with_span(ld(11, uint(1, 1))),
    "link flags as fixed64": request_with_span(ld(13, fixed64(6, 1))),
    "int value as fixed64": request_with_span(ld(9, ld(1, "k") + ld(2, fixed64(3, 1)))),
    "double value as varint": request_with_span(ld(9, ld(1, "k") + ld(2, uint(4, 1)))),
    "resource as varint": ld(1, uint(1, 1)),
    "resource spans as fixed32": fixed32(1, 1),
    "resource twice": ld(1, ld(1, b"") + ld(1, ld(1, ld(1, "k")))),
    "scope twice": ld(1, ld(2, ld(1, ld(1, "a")) + ld(1, ld(2, "b")))),
    "status twice": request_with_span(ld(15, uint(3, 2)), ld(15, ld(2, "m"))),
    # protobuf refuses messages nested deeper than its limit, counted from the request
    "resource nested past protobuf's limit": ld(1, ld(1, ld(1, _deep_array(49)))),
    "scope nested past protobuf's limit": ld(1, ld(2, ld(1, ld(3, _deep_array(48))))),
    "value twice": request_with_span(ld(9, ld(1, "k") + ld(2, uint(3, 1)) + ld(2, ld(1, "s")))),
}


@pytest.mark.parametrize("body", LEFT_TO_PYTHON.values(), ids=LEFT_TO_PYTHON.keys())
def test_the_rest_is_left_to_the_python_decoder(body: bytes) -> None:
    left_to_python(body)


def test_rejections_keep_their_python_reasons() -> None:
    """The bad-id bodies above are rejections, not refusals, and keep the good spans."""
    result = decode_protobuf(LEFT_TO_PYTHON["trace id of 15 bytes"])
    assert (len(result.spans), result.rejected_spans) == (2, 1)
    assert "invalid trace_id" in result.error_message


MAYBE_NATIVE: dict[str, bytes] = {
    "later oneof member wins": request_with_span(
        ld(9, ld(1, "k") + ld(2, uint(3, 5) + ld(1, "x")))
    ),
    "strindex after a string": request_with_span(
        ld(9, ld(1, "k") + ld(2, ld(1, "x") + uint(8, 1)))
    ),
    "bool of 2": request_with_span(ld(9, ld(1, "k") + ld(2, uint(2, 2)))),
    "bool over 32 bits": request_with_span(ld(9, ld(1, "k") + ld(2, uint(2, 2**40)))),
    "overlong varint": request_with_span(tag(6, 0) + b"\x82\x80\x80\x00"),
    "varint of 10 bytes, high bits set": request_with_span(
        tag(6, 0) + b"\x82" + b"\x80" * 8 + b"\x7f"
    ),
    "tag of 5 bytes": request_with_span(b"\xaa\x80\x80\x80\x00" + b"\x01x"),
    "length of 5 bytes": request_with_span(b"\x2a\x81\x80\x80\x80\x00x"),
    "event key with ESC": export(
        span(events=[trace_pb2.Span.Event(attributes=attributes({"\x1b": 1}))])
    ),
    "link key with US": export(
        span(links=[trace_pb2.Span.Link(attributes=attributes({"\x1f": 1}))])
    ),
    "entity refs in a resource": ld(1, ld(1, ld(3, ld(1, "x")))),
}


@pytest.mark.parametrize("body", MAYBE_NATIVE.values(), ids=MAYBE_NATIVE.keys())
def test_unusual_encodings_decode_the_same_if_taken(body: bytes) -> None:
    same_or_left(body)


@FUZZ
@given(requests(handled=True))
def test_generated_plain_requests_are_decoded_natively_as_in_python(
    request: ExportTraceServiceRequest,
) -> None:
    assert natively_decodable(request)
    decoded(request.SerializeToString())


@FUZZ
@given(requests(handled=False))
def test_generated_requests_are_decoded_as_in_python_or_left_to_it(
    request: ExportTraceServiceRequest,
) -> None:
    body = request.SerializeToString()
    same_or_left(body)
    if natively_decodable(request):
        assert decode_native(body) is not None, f"not taken natively\n{shown(body)}"


@settings(FUZZ, max_examples=120)
@given(wire_requests())
def test_unusual_wire_bytes_are_decoded_as_in_python_or_left_to_it(
    request: tuple[bytes, bool, bool],
) -> None:
    body, valid, plain = request
    same_or_left(body)
    if valid:
        decode_protobuf_python(body)  # the generator's own check: Python parses it
    if plain:
        assert decode_native(body) is not None, f"not taken natively\n{shown(body)}"


# --- mutated bodies ---


@functools.cache
def traffic_bodies(span_count: int, per_request: int) -> tuple[bytes, ...]:
    """Export bodies as ``bench/ingest.py`` makes them from ``bench/_traffic.py``."""
    bench = REPO / "bench"
    sys.path.insert(0, str(bench))
    try:
        spec = importlib.util.spec_from_file_location("bench_ingest", bench / "ingest.py")
        assert spec is not None and spec.loader is not None
        ingest = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = ingest  # dataclasses look their module up while defined
        spec.loader.exec_module(ingest)
    finally:
        sys.path.remove(str(bench))
    payloads, _ = ingest.build_payloads(span_count, per_request, 11)
    return tuple(payload.body for payload in payloads)


def mutation_seeds() -> list[bytes]:
    small = [body for body in HANDLED.values() if 0 < len(body) < 4000]
    return [*small, VALID, traffic_bodies(20, 20)[0]]


@FUZZ
@given(st.sampled_from(mutation_seeds()), st.randoms(use_true_random=False))
def test_mutated_bodies_are_decoded_as_in_python_or_left_to_it(
    body: bytes, rng: random.Random
) -> None:
    same_or_left(mutate(body, rng))


SWEEP = """
import random, sys
from tests.receivers.otlp_wire import mutate, native_divergence, shown
from traceway.receivers.otlp_decode import decode_native, decode_protobuf_python

seeds_path, last_path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
seeds = [bytes.fromhex(line) for line in open(seeds_path).read().split()]
rng = random.Random(2024)
with open(last_path, "wb", buffering=0) as last:
    for _ in range(count):
        body = mutate(rng.choice(seeds), rng, rounds=4)
        last.seek(0)
        last.truncate()
        last.write(body)
        problem = native_divergence(decode_native, decode_protobuf_python, body)
        if problem is not None:
            print(problem, shown(body), sep="\\n", flush=True)
"""


def test_thousands_of_mutated_bodies_neither_crash_the_process_nor_diverge(
    tmp_path: Path,
) -> None:
    """In a child process, so that a crash names the body that caused it."""
    seeds, last = tmp_path / "seeds.hex", tmp_path / "last-body.bin"
    seeds.write_text("\n".join(body.hex() for body in mutation_seeds()))
    child = subprocess.run(
        [sys.executable, "-c", SWEEP, str(seeds), str(last), "15000"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, (
        f"the decoding process ended with {child.returncode} on this body (hex): "
        f"{last.read_bytes().hex()}\n{child.stderr[-3000:]}"
    )
    assert not child.stdout, child.stdout[:5000]


# --- the benchmark's traffic, the build, threads, references ---


def test_the_benchmark_traffic_is_decoded_natively_as_in_python() -> None:
    spans = sum(len(decoded(body).spans) for body in traffic_bodies(2048, 512))
    assert spans >= 2048


def test_the_native_decoder_is_built() -> None:
    """The dev install compiles it; without it every body silently goes to Python."""
    try:
        importlib.import_module("traceway.receivers._otlp_native")
    except ImportError as exc:
        pytest.fail(f"the native OTLP decoder did not build or import: {exc}")
    assert NATIVE_AVAILABLE
    assert decode_native(HANDLED["every value kind"]) is not None


def test_threads_decoding_at_once_each_get_their_own_spans() -> None:
    """The C decoder parses without the GIL: bodies decoded at once must not mix."""
    bodies = [*traffic_bodies(1024, 256), HANDLED["every value kind"], HANDLED["events"]]
    wanted = [decode_protobuf_python(body) for body in bodies]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(decode_native, bodies * 5))
    for body, want, got in zip(bodies * 5, wanted * 5, results, strict=True):
        assert_same_decoding(got, want, body)


def test_decoding_keeps_no_reference_to_the_body_and_no_memory() -> None:
    body = bytes(bytearray(HANDLED["events"]))  # an object of its own
    references = sys.getrefcount(body)
    for _ in range(200):
        decode_native(body)
    assert sys.getrefcount(body) == references
    statm = Path("/proc/self/statm")
    if not statm.exists():
        return
    page = 4096
    before = int(statm.read_text().split()[1]) * page
    for _ in range(2000):
        decode_native(body)
    grown = int(statm.read_text().split()[1]) * page - before
    assert grown < 8 << 20, f"resident memory grew by {grown >> 20} MiB over 2000 decodings"


def test_a_body_given_as_bytearray_or_memoryview_is_decoded_from_a_copy() -> None:
    """The C decoder reads a body more than once without the GIL, so it takes only
    immutable bytes; the wrapper copies anything else."""
    from traceway.receivers import _otlp_native
    from traceway.receivers.otlp_native import native_batch

    body = export(span(attributes=attributes({"k": "v", "n": 1})))
    expected = native_batch(body)
    assert expected is not None
    for view in (bytearray(body), memoryview(body)):
        got = native_batch(view)  # type: ignore[arg-type]
        assert got is not None
        assert got.table.equals(expected.table)
        with pytest.raises(TypeError, match="takes bytes"):
            _otlp_native.decode(view)  # type: ignore[arg-type]
