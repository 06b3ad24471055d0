"""Span limits: what a span may carry, on OTLP batches (columns) and on plain spans alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traceway.model import AttributeValue, Event, InstrumentationScope, Link, Resource, Span
from traceway.pipeline.limits import TRUNCATED_ATTRIBUTES, SpanLimiter, SpanLimits
from traceway.receivers.otlp_decode import decode_json, decode_protobuf
from traceway.receivers.otlp_encode import encode_json, encode_protobuf
from traceway.storage.span_batch import SpanBatch

Receive = Callable[[list[Span]], Sequence[Span]]

RESOURCE = Resource({"service.name": "checkout", "host.name": "web-1"})

# How receivers hand spans over: OTLP as columns, Jaeger and Zipkin as Span objects.
RECEIVED: dict[str, Receive] = {
    "otlp-protobuf": lambda spans: decode_protobuf(encode_protobuf(spans)).spans,
    "otlp-json": lambda spans: decode_json(encode_json(spans)).spans,
    "span-objects": tuple,
}


def make_span(number: int = 1, **fields: object) -> Span:
    values: dict[str, object] = {
        "trace_id": f"{number:032x}",
        "span_id": f"{number:016x}",
        "name": "GET /cart",
        "start_time_unix_nano": 1_700_000_000_000_000_000 + number,
        "end_time_unix_nano": 1_700_000_000_001_000_000 + number,
        "attributes": {"http.method": "GET", "http.status_code": 200, "user.id": f"u{number}"},
        "resource": RESOURCE,
        **fields,
    }
    return Span(**values)  # type: ignore[arg-type]


def processed(limiter: SpanLimiter, spans: Sequence[Span]) -> list[Span]:
    change = limiter.plan(spans)
    return list(spans if change is None else change())


@pytest.fixture(params=sorted(RECEIVED))
def receive(request: pytest.FixtureRequest) -> Receive:
    return RECEIVED[request.param]


def test_spans_within_the_limits_pass_unchanged(receive: Receive) -> None:
    spans = receive(
        [
            make_span(
                n,
                attributes={"tags": ["a", "b"], "blob": b"\x00\x01", "nested": {"k": "v"}},
                events=(Event(1, "retry", {"attempt": n}),),
                links=(Link(f"{n + 100:032x}", f"{n + 100:016x}", attributes={"n": n}),),
            )
            for n in range(1, 200)
        ]
    )
    limiter = SpanLimiter(SpanLimits())
    assert processed(limiter, spans) == list(spans)
    if isinstance(spans, SpanBatch):
        # Once its resource and scope are known, a batch costs only the column screen.
        assert limiter.plan(spans) is None


def test_a_span_of_100000_attributes_and_a_1mb_value_is_cut_down_and_marked(
    receive: Receive,
) -> None:
    attributes: dict[str, AttributeValue] = {"payload": "é" * 1_000_000}
    attributes.update((f"attribute.{i}", i) for i in range(100_000))
    spans = receive([make_span(2), make_span(attributes=attributes, dropped_attributes_count=5)])

    untouched, limited = processed(SpanLimiter(SpanLimits()), spans)

    assert untouched == spans[0]
    assert list(limited.attributes)[:3] == ["payload", "attribute.0", "attribute.1"]
    assert len(limited.attributes) == 128 + 1  # the mark comes on top
    assert limited.attributes["payload"] == "é" * 16384  # characters, not bytes
    assert limited.attributes[TRUNCATED_ATTRIBUTES] == ["payload"]
    assert limited.dropped_attributes_count == 5 + 100_001 - 128
    assert (limited.span_id, limited.name) == (f"{1:016x}", "GET /cart")


def test_values_are_cut_inside_lists_and_maps_and_bytes_by_bytes(receive: Receive) -> None:
    attributes: dict[str, AttributeValue] = {
        "short": "ok",
        "words": ["abcdefgh", "ab"],
        "headers": {"cookie": "c" * 20, "n": 1},
        "blob": b"\x01" * 9,
    }
    (span,) = receive([make_span(attributes=attributes)])

    (limited,) = processed(SpanLimiter(SpanLimits(max_attribute_length=4)), [span])

    assert limited.attributes == {
        "short": "ok",
        "words": ["abcd", "ab"],
        "headers": {"cookie": "cccc", "n": 1},
        "blob": b"\x01" * 4,
        TRUNCATED_ATTRIBUTES: ["words", "headers", "blob"],
    }
    assert limited.dropped_attributes_count == 0


def test_extra_events_and_links_are_dropped_and_counted_keeping_the_latest(
    receive: Receive,
) -> None:
    events = tuple(Event(t, f"event {t}", {"a": 1, "b": 2, "c": "long value"}) for t in range(6))
    links = tuple(Link(f"{n + 1:032x}", f"{n + 1:016x}") for n in range(5))
    span = make_span(events=events, links=links, dropped_events_count=1, dropped_links_count=2)
    limits = SpanLimits(max_attributes=2, max_attribute_length=4, max_events=2, max_links=3)

    (limited,) = processed(SpanLimiter(limits), receive([span]))

    assert [e.name for e in limited.events] == ["event 4", "event 5"]
    assert limited.events[0].attributes == {"a": 1, "b": 2}
    assert limited.events[0].dropped_attributes_count == 1
    assert [link.span_id for link in limited.links] == [f"{n:016x}" for n in (3, 4, 5)]
    assert (limited.dropped_events_count, limited.dropped_links_count) == (1 + 4, 2 + 2)


def test_event_and_link_attributes_are_limited_like_span_attributes(receive: Receive) -> None:
    span = make_span(
        events=(Event(1, "exception", {"exception.stacktrace": "s" * 50, "x": 1, "y": 2}),),
        links=(Link("a" * 32, "b" * 16, attributes={"note": "n" * 50, "z": 3}),),
    )

    (limited,) = processed(
        SpanLimiter(SpanLimits(max_attributes=2, max_attribute_length=10)), receive([span])
    )

    (event,) = limited.events
    assert event.attributes == {
        "exception.stacktrace": "s" * 10,
        "x": 1,
        TRUNCATED_ATTRIBUTES: ["exception.stacktrace"],
    }
    assert event.dropped_attributes_count == 1
    (link,) = limited.links
    assert link.attributes == {"note": "n" * 10, "z": 3, TRUNCATED_ATTRIBUTES: ["note"]}


def test_resource_and_scope_attributes_are_limited_and_still_shared(receive: Receive) -> None:
    resource = Resource({"service.name": "checkout", "process.command_line": "c" * 100})
    scope = InstrumentationScope("lib", "1.0", {"a": 1, "b": 2, "c": 3})
    spans = receive(
        [make_span(n, attributes={"n": n}, resource=resource, scope=scope) for n in range(1, 4)]
    )
    limits = SpanLimits(max_attributes=2, max_attribute_length=10)

    limited = processed(SpanLimiter(limits), spans)

    assert limited[0].resource.attributes == {
        "service.name": "checkout",
        "process.command_line": "c" * 10,
        TRUNCATED_ATTRIBUTES: ["process.command_line"],
    }
    assert limited[0].scope.attributes == {"a": 1, "b": 2}
    assert limited[0].scope.dropped_attributes_count == 1
    assert all(s.resource == limited[0].resource and s.scope == limited[0].scope for s in limited)
    assert [s.attributes for s in limited] == [s.attributes for s in spans]
    if isinstance(spans, SpanBatch):
        change = SpanLimiter(limits).plan(spans)
        assert change is not None
        batch = change()
        assert isinstance(batch, SpanBatch)
        assert (len(batch.resources), len(batch.scopes)) == (1, 1)


def test_off_limits_let_anything_through(receive: Receive) -> None:
    attributes: dict[str, AttributeValue] = {f"k{i}": "v" * 300 for i in range(300)}
    span = make_span(attributes=attributes, events=tuple(Event(t, "e") for t in range(300)))
    spans = receive([span])
    off = SpanLimits(
        max_attributes=None, max_attribute_length=None, max_events=None, max_links=None
    )

    assert not off.enabled
    assert processed(SpanLimiter(off), spans) == list(spans)


@pytest.mark.parametrize("name", ["max_attributes", "max_attribute_length", "max_events"])
def test_a_limit_below_one_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        SpanLimits(**{name: 0})  # type: ignore[arg-type]


# --- the column screen never misses a span that a limit applies to --------------------

_values = st.recursive(
    st.one_of(
        st.text(max_size=8),
        st.binary(max_size=8),
        st.integers(-(2**63), 2**63 - 1),
        st.booleans(),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text("ab", max_size=3), children, max_size=3),
    ),
    max_leaves=6,
)
_attributes = st.dictionaries(st.text("abc.", min_size=1, max_size=4), _values, max_size=5)


@st.composite
def _spans(draw: st.DrawFn) -> list[Span]:
    count = draw(st.integers(1, 6))
    return [
        make_span(
            n,
            attributes=draw(_attributes),
            events=tuple(Event(t, "e", draw(_attributes)) for t in range(draw(st.integers(0, 4)))),
            links=tuple(
                Link(f"{t + 1:032x}", f"{t + 1:016x}", attributes=draw(_attributes))
                for t in range(draw(st.integers(0, 4)))
            ),
            resource=Resource(draw(_attributes)),
        )
        for n in range(1, count + 1)
    ]


ONE_LIMIT = ["max_attributes", "max_attribute_length", "max_events", "max_links"]


@pytest.mark.parametrize("only", [*ONE_LIMIT, "all"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spans=_spans(), limit=st.integers(1, 6))
def test_columns_and_span_objects_come_out_the_same(
    spans: list[Span], limit: int, only: str
) -> None:
    # One limit at a time, so that no screen is covered for by another.
    limits = SpanLimits(**{name: limit if only in (name, "all") else None for name in ONE_LIMIT})
    batch = decode_protobuf(encode_protobuf(spans)).spans

    from_columns = processed(SpanLimiter(limits), batch)
    from_objects = processed(SpanLimiter(limits), tuple(batch))

    assert from_columns == from_objects
