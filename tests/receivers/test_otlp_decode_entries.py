"""The OTLP decoder writes the stored span format byte for byte as before.

Attribute entries are read by tag searches (``needles``) and by every stored row, so
the decoder's faster way of building them must give the very same strings: they are
compared with the decoder as it was (``legacy_entries``, kept verbatim below) and with
the storage's own encoders, on hand-made payloads with every value type and on
generated ones.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
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

from traceway.model import AttributeValue, Event, Link, Span, SpanKind, StatusCode
from traceway.model import InstrumentationScope as ModelScope
from traceway.model import Resource as ModelResource
from traceway.receivers.otlp_decode import decode_protobuf, decode_request
from traceway.storage.attribute_entries import SEPARATOR, encode_entries, entry, needles
from traceway.storage.span_batch import span_batch_of
from traceway.storage.typed_json import dumps, to_json

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")


# --- the decoder's attribute entries as they were built before (commit 72fe137) ---

_LEGACY_PREFIXES: dict[str, str] = {}


def _legacy_prefix(key: str) -> str | None:
    prefix = _LEGACY_PREFIXES.get(key)
    if prefix is None and SEPARATOR not in key and "\x1b" not in key:
        prefix = _LEGACY_PREFIXES[key] = key + SEPARATOR
    return prefix


def legacy_entries(key_values: Iterable[KeyValue]) -> tuple[list[str], str | None]:
    entries: dict[str, str] = {}
    complex_values: dict[str, Any] | None = None
    for kv in key_values:
        key, value = kv.key, kv.value
        prefix = _legacy_prefix(key)
        if prefix is not None:
            if text := value.string_value:
                entries[key] = prefix + "s" + text
                continue
            kind = value.WhichOneof("value")
            if kind == "int_value":
                entries[key] = prefix + "i" + str(value.int_value)
                continue
            if kind == "double_value":
                entries[key] = prefix + "d" + repr(value.double_value)
                continue
            if kind == "bool_value":
                entries[key] = prefix + ("btrue" if value.bool_value else "bfalse")
                continue
        typed = typed_value(value)
        entries[key] = entry(key, typed)
        if isinstance(typed, list | dict):
            if complex_values is None:
                complex_values = {}
            complex_values[key] = to_json(typed)
    return list(entries.values()), dumps(complex_values) if complex_values else None


def typed_value(value: AnyValue) -> AttributeValue:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [typed_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: typed_value(kv.value) for kv in value.kvlist_value.values}
    return None if kind is None else getattr(value, kind)


# --- payloads ---


def kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def array(*values: AnyValue) -> AnyValue:
    return AnyValue(array_value=ArrayValue(values=list(values)))


def kvlist(*pairs: tuple[str, AnyValue]) -> AnyValue:
    return AnyValue(kvlist_value=KeyValueList(values=[kv(k, v) for k, v in pairs]))


EVERY_VALUE = [
    kv("str", AnyValue(string_value="grüße 🚀")),
    kv("empty", AnyValue(string_value="")),
    kv("digits", AnyValue(string_value="42")),
    kv("int", AnyValue(int_value=42)),
    kv("zero", AnyValue(int_value=0)),
    kv("min", AnyValue(int_value=-(2**63))),
    kv("max", AnyValue(int_value=2**63 - 1)),
    kv("true", AnyValue(bool_value=True)),
    kv("false", AnyValue(bool_value=False)),
    kv("float", AnyValue(double_value=1.5)),
    kv("tiny", AnyValue(double_value=1e-7)),
    kv("huge", AnyValue(double_value=1e300)),
    kv("zero float", AnyValue(double_value=0.0)),
    kv("negative zero", AnyValue(double_value=-0.0)),
    kv("nan", AnyValue(double_value=math.nan)),
    kv("inf", AnyValue(double_value=-math.inf)),
    kv("bytes", AnyValue(bytes_value=b"\x00\xff")),
    kv("no bytes", AnyValue(bytes_value=b"")),
    kv("unset", AnyValue()),
    kv("list", array(AnyValue(int_value=1), AnyValue(string_value="1"), AnyValue())),
    kv("empty list", array()),
    kv("nested", array(array(AnyValue(bytes_value=b"z")), kvlist(("k", AnyValue(int_value=0))))),
    kv("map", kvlist(("b", AnyValue(string_value="x")), ("kv", array(AnyValue(double_value=2.0))))),
    kv("empty map", kvlist()),
    kv("key\x1fwith\x1bcontrol", AnyValue(string_value="value\x1fwith\x1econtrol")),
    kv("\x1f", AnyValue(int_value=0)),
    kv("", AnyValue(string_value="empty key")),
    kv("ключ", AnyValue(string_value="значение")),
]

REPEATED_KEYS = [
    kv("a", AnyValue(string_value="first")),
    kv("b", array(AnyValue(int_value=1))),
    kv("a", AnyValue(int_value=2)),
    kv("c", AnyValue(string_value="c")),
    kv("b", AnyValue(string_value="scalar after a list")),
    kv("a", AnyValue(string_value="last")),
    kv("m", kvlist()),
    kv("m", kvlist(("x", AnyValue(bool_value=True)))),
]


def span(number: int, attributes: list[KeyValue], **fields: Any) -> trace_pb2.Span:
    return trace_pb2.Span(
        trace_id=TRACE_ID,
        span_id=number.to_bytes(8, "big"),
        name=f"span {number}",
        start_time_unix_nano=number,
        end_time_unix_nano=number + 10,
        attributes=attributes,
        **fields,
    )


def varied_request(*, repeated_keys: bool = True) -> ExportTraceServiceRequest:
    event = trace_pb2.Span.Event(
        time_unix_nano=5, name="exception", attributes=EVERY_VALUE, dropped_attributes_count=1
    )
    link = trace_pb2.Span.Link(
        trace_id=TRACE_ID, span_id=b"\x00" * 7 + b"\x09", trace_state="k=v", attributes=EVERY_VALUE
    )
    spans = [
        span(1, EVERY_VALUE, kind=2, events=[event], links=[link]),
        span(2, REPEATED_KEYS if repeated_keys else [], parent_span_id=(1).to_bytes(8, "big")),
        span(3, []),
        span(4, list(reversed(EVERY_VALUE)), status=trace_pb2.Status(code=2, message="ü")),
        span(5, EVERY_VALUE[:3] + EVERY_VALUE[:3], events=[event, event]),  # learnt keys again
    ]
    return ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=Resource(attributes=EVERY_VALUE[:5], dropped_attributes_count=2),
                schema_url="https://opentelemetry.io/schemas/1.26.0",
                scope_spans=[
                    trace_pb2.ScopeSpans(
                        scope=InstrumentationScope(name="lib", version="1", attributes=EVERY_VALUE),
                        spans=spans[:3],
                    ),
                    trace_pb2.ScopeSpans(scope=InstrumentationScope(name="other"), spans=spans[3:]),
                ],
            ),
            trace_pb2.ResourceSpans(
                resource=Resource(attributes=REPEATED_KEYS if repeated_keys else []),
                scope_spans=[trace_pb2.ScopeSpans(spans=[span(6, EVERY_VALUE)])],
            ),
        ]
    )


# --- the reference: protobuf to model objects, then the storage's own encoders ---


def attribute_map(key_values: Iterable[KeyValue]) -> dict[str, AttributeValue]:
    return {pair.key: typed_value(pair.value) for pair in key_values}


def reference_spans(request: ExportTraceServiceRequest) -> list[Span]:
    spans = []
    for resource_spans in request.resource_spans:
        pb_resource = resource_spans.resource
        resource = ModelResource(
            attribute_map(pb_resource.attributes),
            pb_resource.dropped_attributes_count,
            resource_spans.schema_url,
        )
        for scope_spans in resource_spans.scope_spans:
            pb_scope = scope_spans.scope
            scope = ModelScope(
                pb_scope.name,
                pb_scope.version,
                attribute_map(pb_scope.attributes),
                pb_scope.dropped_attributes_count,
                scope_spans.schema_url,
            )
            for pb in scope_spans.spans:
                spans.append(
                    Span(
                        trace_id=pb.trace_id.hex(),
                        span_id=pb.span_id.hex(),
                        parent_span_id=pb.parent_span_id.hex(),
                        name=pb.name,
                        kind=SpanKind(pb.kind),
                        start_time_unix_nano=pb.start_time_unix_nano,
                        end_time_unix_nano=pb.end_time_unix_nano,
                        attributes=attribute_map(pb.attributes),
                        status_code=StatusCode(pb.status.code),
                        status_message=pb.status.message,
                        resource=resource,
                        scope=scope,
                        events=tuple(
                            Event(
                                e.time_unix_nano,
                                e.name,
                                attribute_map(e.attributes),
                                e.dropped_attributes_count,
                            )
                            for e in pb.events
                        ),
                        links=tuple(
                            Link(
                                link.trace_id.hex(),
                                link.span_id.hex(),
                                link.trace_state,
                                attribute_map(link.attributes),
                                link.dropped_attributes_count,
                                link.flags,
                            )
                            for link in pb.links
                        ),
                        dropped_attributes_count=pb.dropped_attributes_count,
                    )
                )
    return spans


def legacy_columns(request: ExportTraceServiceRequest) -> tuple[list[list[str]], list[str | None]]:
    entries, extras = [], []
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for pb in scope_spans.spans:
                span_entries, extra = legacy_entries(pb.attributes)
                entries.append(span_entries)
                extras.append(extra)
    return entries, extras


def assert_same_as_before(request: ExportTraceServiceRequest) -> pa.Table:
    table = decode_request(request).spans.table  # type: ignore[attr-defined]
    entries, extras = legacy_columns(request)
    assert table.column("attributes").to_pylist() == entries
    assert table.column("attributes_extra").to_pylist() == extras
    return table


def test_every_value_type_gives_the_entries_it_gave_before() -> None:
    request = varied_request()
    table = assert_same_as_before(request)
    # ... and a second time, when every key's prefix is known already.
    assert assert_same_as_before(request).equals(table)


def test_the_whole_batch_equals_what_the_storage_encoders_write() -> None:
    # Without repeated keys: for a key repeated as a list, then a scalar, the decoder
    # keeps (as it always did) the list in "extra", which no reader looks at.
    request = varied_request(repeated_keys=False)
    decoded = decode_request(request).spans
    expected = span_batch_of(reference_spans(request))
    assert decoded.table.equals(expected.table)  # type: ignore[attr-defined]
    # (repr: NaN is not equal to itself)
    assert repr(decoded.resources) == repr(expected.resources)  # type: ignore[attr-defined]
    assert repr(decoded.scopes) == repr(expected.scopes)  # type: ignore[attr-defined]


def test_repeated_keys_keep_their_first_place_and_last_value() -> None:
    (decoded,) = decode_request(
        ExportTraceServiceRequest(
            resource_spans=[
                trace_pb2.ResourceSpans(
                    scope_spans=[trace_pb2.ScopeSpans(spans=[span(1, REPEATED_KEYS)])]
                )
            ]
        )
    ).spans
    assert decoded.attributes == {
        "a": "last",
        "b": "scalar after a list",
        "c": "c",
        "m": {"x": True},
    }


def test_search_needles_find_the_decoded_values() -> None:
    (decoded,) = decode_request(
        ExportTraceServiceRequest(
            resource_spans=[
                trace_pb2.ResourceSpans(
                    scope_spans=[trace_pb2.ScopeSpans(spans=[span(1, EVERY_VALUE)])]
                )
            ]
        )
    ).spans
    entries, _ = encode_entries(decoded.attributes)
    stored = set(entries)
    for key, text in [("zero", "0"), ("str", "grüße 🚀"), ("empty", ""), ("max", str(2**63 - 1))]:
        assert stored & set(needles(key, text)), key


def test_the_benchmark_traffic_decodes_as_before() -> None:
    sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
    try:
        from _traffic import TrafficGenerator
    finally:
        sys.path.pop(0)
    from traceway.receivers.otlp_encode import encode_protobuf

    generator = TrafficGenerator(3, 1_750_000_000_000_000_000, interval_ns=1_000_000)
    spans = [item for _ in range(60) for item in generator.trace()]
    body = encode_protobuf(spans)
    request = ExportTraceServiceRequest.FromString(body)
    table = assert_same_as_before(request)
    assert table.sort_by("span_id").equals(span_batch_of(spans).table.sort_by("span_id"))
    assert sorted(decode_protobuf(body).spans, key=lambda s: s.span_id) == sorted(
        spans, key=lambda s: s.span_id
    )


# --- generated attribute lists ---

keys = st.one_of(
    st.sampled_from(["http.method", "http.status_code", "user.id", "k", "", "a\x1fb", "\x1b"]),
    st.text(max_size=6),
)
scalars = st.one_of(
    st.builds(lambda v: AnyValue(string_value=v), st.text(max_size=12)),
    st.builds(lambda v: AnyValue(int_value=v), st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda v: AnyValue(int_value=v), st.sampled_from([0, 1, -1])),
    st.builds(lambda v: AnyValue(double_value=v), st.floats()),
    st.builds(lambda v: AnyValue(bool_value=v), st.booleans()),
    st.builds(lambda v: AnyValue(bytes_value=v), st.binary(max_size=6)),
    st.just(AnyValue()),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.builds(
            lambda vs: AnyValue(array_value=ArrayValue(values=vs)), st.lists(inner, max_size=3)
        ),
        st.builds(
            lambda pairs: AnyValue(
                kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in pairs])
            ),
            st.lists(st.tuples(keys, inner), max_size=3),
        ),
    ),
    max_leaves=6,
)
attribute_lists = st.lists(st.builds(kv, keys, values), max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(attribute_lists, min_size=1, max_size=5))
def test_generated_attributes_give_the_entries_they_gave_before(
    span_attributes: list[list[KeyValue]],
) -> None:
    request = ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                scope_spans=[
                    trace_pb2.ScopeSpans(
                        spans=[span(n + 1, attrs) for n, attrs in enumerate(span_attributes)]
                    )
                ]
            )
        ]
    )
    assert_same_as_before(request)


@pytest.mark.parametrize("letter_key", ["zero", "int"])
def test_a_key_learnt_as_an_integer_still_takes_other_types(letter_key: str) -> None:
    first = [kv(letter_key, AnyValue(int_value=0))]
    then = [
        kv(letter_key, AnyValue(string_value="")),
        kv("x", AnyValue(string_value="0")),
    ]
    request = ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                scope_spans=[trace_pb2.ScopeSpans(spans=[span(1, first), span(2, then)])]
            )
        ]
    )
    assert_same_as_before(request)
