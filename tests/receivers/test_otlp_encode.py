"""Encoding spans as OTLP: what decodes back, and how spans are nested."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import traceway.receivers.otlp_encode as otlp_encode
from traceway.model import (
    AttributeValue,
    Event,
    InstrumentationScope,
    Link,
    Resource,
    Span,
    SpanKind,
    StatusCode,
)
from traceway.receivers.otlp_decode import (
    DecodedSpans,
    decode_json,
    decode_protobuf,
    decode_request,
)
from traceway.receivers.otlp_encode import encode_json, encode_protobuf, encode_request

Codec = tuple[Callable[[Iterable[Span]], bytes], Callable[[bytes], DecodedSpans]]
CODECS = [
    pytest.param((encode_protobuf, decode_protobuf), id="protobuf"),
    pytest.param((encode_json, decode_json), id="json"),
]

uint32 = st.integers(0, 2**32 - 1)
texts = st.text(max_size=8)
scalars: st.SearchStrategy[AttributeValue] = st.one_of(
    st.none(),
    texts,
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),  # NaN and infinities too: OTLP/JSON spells them as strings
    st.binary(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=6,
)
attributes = st.dictionaries(texts, values, max_size=4)
trace_ids = st.integers(1, 2**128 - 1).map("{:032x}".format)
span_ids = st.integers(1, 2**64 - 1).map("{:016x}".format)
resources = st.builds(
    Resource, attributes=attributes, dropped_attributes_count=uint32, schema_url=texts
)
scopes = st.builds(
    InstrumentationScope,
    name=texts,
    version=texts,
    attributes=attributes,
    dropped_attributes_count=uint32,
    schema_url=texts,
)
events = st.builds(
    Event,
    time_unix_nano=st.integers(0, 2**64 - 1),
    name=texts,
    attributes=attributes,
    dropped_attributes_count=uint32,
)
links = st.builds(
    Link,
    trace_id=st.just("") | trace_ids,
    span_id=st.just("") | span_ids,
    trace_state=texts,
    attributes=attributes,
    dropped_attributes_count=uint32,
    flags=uint32,
)


@st.composite
def span_batches(draw: st.DrawFn) -> list[Span]:
    """Spans that share a few resources and scopes, as a real export does."""
    resource_pool = draw(st.lists(resources, min_size=1, max_size=3))
    scope_pool = draw(st.lists(scopes, min_size=1, max_size=3))
    span = st.builds(
        Span,
        trace_id=trace_ids,
        span_id=span_ids,
        name=texts,
        start_time_unix_nano=st.integers(0, 2**64 - 1),
        end_time_unix_nano=st.integers(0, 2**64 - 1),
        parent_span_id=st.just("") | span_ids,
        kind=st.sampled_from(SpanKind),
        attributes=attributes,
        status_code=st.sampled_from(StatusCode),
        status_message=texts,
        resource=st.sampled_from(resource_pool),
        scope=st.sampled_from(scope_pool),
        events=st.lists(events, max_size=2).map(tuple),
        links=st.lists(links, max_size=2).map(tuple),
        trace_state=texts,
        flags=uint32,
        dropped_attributes_count=uint32,
        dropped_events_count=uint32,
        dropped_links_count=uint32,
    )
    return draw(st.lists(span, max_size=5))


def typed(spans: Sequence[Span]) -> list[str]:
    """Spans as comparable text that tells 1 from True from 1.0 and sees NaN as equal."""
    return sorted(repr(span) for span in spans)


@pytest.mark.parametrize("codec", CODECS)
@settings(deadline=None, max_examples=60)
@given(spans=span_batches())
def test_every_span_field_survives_encode_then_decode(codec: Codec, spans: list[Span]) -> None:
    encode, decode = codec

    decoded = decode(encode(spans))

    assert decoded.rejected_spans == 0
    assert typed(decoded.spans) == typed(spans)


def test_spans_with_equal_resources_and_scopes_share_one_group() -> None:
    def span(span_id: str, service: str, scope: str) -> Span:
        # Fresh but equal objects each time, as a storage read returns them.
        return Span(
            trace_id="1" * 32,
            span_id=span_id,
            name=span_id,
            start_time_unix_nano=1,
            end_time_unix_nano=2,
            resource=Resource({"service.name": service}),
            scope=InstrumentationScope(scope),
        )

    request = encode_request(
        [
            span("a" * 16, "orders", "grpc"),
            span("b" * 16, "users", "grpc"),
            span("c" * 16, "orders", "db"),
            span("d" * 16, "orders", "grpc"),
        ]
    )

    layout = [
        (
            rs.resource.attributes[0].value.string_value,
            [(ss.scope.name, [s.name[0] for s in ss.spans]) for ss in rs.scope_spans],
        )
        for rs in request.resource_spans
    ]
    assert layout == [
        ("orders", [("grpc", ["a", "d"]), ("db", ["c"])]),
        ("users", [("grpc", ["b"])]),
    ]


def test_integers_beyond_int64_are_sent_as_text_not_lost() -> None:
    span = Span(
        trace_id="1" * 32,
        span_id="2" * 16,
        name="zipkin import",
        start_time_unix_nano=0,
        end_time_unix_nano=0,
        attributes={"huge": 2**64, "fits": 2**63 - 1},
    )

    (decoded,) = decode_request(encode_request([span])).spans

    assert decoded.attributes == {"huge": str(2**64), "fits": 2**63 - 1}


def test_no_spans_is_an_empty_request() -> None:
    assert encode_protobuf([]) == b""
    assert decode_protobuf(encode_protobuf([])).spans == ()


def test_public_surface() -> None:
    assert sorted(otlp_encode.__all__) == ["encode_json", "encode_protobuf", "encode_request"]
