"""The critical path: Jaeger UI's algorithm over clamped span times."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.query.spans import MS, T0, span, trace_of
from traceway.model import Trace
from traceway.query.critical_path import critical_path


def path(trace: Trace) -> list[tuple[str, float, float]]:
    """Segments as (short span id, start ms, end ms)."""
    return [
        (seg.span_id.lstrip("0"), (seg.start_ns - T0) / MS, (seg.end_ns - T0) / MS)
        for seg in critical_path(trace)
    ]


def test_sequential_children_are_all_on_the_path_with_the_gaps_of_the_parent() -> None:
    trace = trace_of(
        span("1", 0, 100),
        span("a", 10, 40, parent="1"),
        span("b", 50, 90, parent="1"),
    )
    assert path(trace) == [
        ("1", 0, 10),
        ("a", 10, 40),
        ("1", 40, 50),
        ("b", 50, 90),
        ("1", 90, 100),
    ]


def test_of_parallel_children_only_the_last_finishing_one_is_on_the_path() -> None:
    trace = trace_of(
        span("1", 0, 100),
        span("a", 10, 60, parent="1"),
        span("b", 20, 80, parent="1"),  # finishes last
        span("c", 30, 50, parent="1"),
    )
    assert path(trace) == [("1", 0, 20), ("b", 20, 80), ("1", 80, 100)]


def test_a_child_that_ends_before_the_next_one_starts_joins_the_path() -> None:
    trace = trace_of(
        span("1", 0, 100),
        span("a", 5, 15, parent="1"),
        span("b", 10, 30, parent="1"),  # overlaps a: a ends after b starts
        span("c", 40, 90, parent="1"),
    )
    assert path(trace) == [
        ("1", 0, 10),
        ("b", 10, 30),
        ("1", 30, 40),
        ("c", 40, 90),
        ("1", 90, 100),
    ]


def test_the_path_descends_into_grandchildren() -> None:
    trace = trace_of(
        span("1", 0, 100),
        span("2", 10, 90, parent="1"),
        span("3", 20, 50, parent="2"),
        span("4", 60, 80, parent="2"),
        span("5", 65, 75, parent="4"),
    )
    assert path(trace) == [
        ("1", 0, 10),
        ("2", 10, 20),
        ("3", 20, 50),
        ("2", 50, 60),
        ("4", 60, 65),
        ("5", 65, 75),
        ("4", 75, 80),
        ("2", 80, 90),
        ("1", 90, 100),
    ]


def test_a_child_outliving_its_parent_is_cut_at_the_parent_end() -> None:
    trace = trace_of(span("1", 0, 100), span("a", 50, 150, parent="1"))
    assert path(trace) == [("1", 0, 50), ("a", 50, 100)]


def test_clock_skew_a_child_starting_before_its_parent_is_cut_at_the_parent_start() -> None:
    trace = trace_of(span("1", 100, 200), span("a", 90, 150, parent="1"))
    assert path(trace) == [("a", 100, 150), ("1", 150, 200)]


def test_clock_skew_a_child_entirely_outside_its_parent_is_left_out() -> None:
    trace = trace_of(
        span("1", 100, 200),
        span("a", 10, 50, parent="1"),  # its host's clock is far behind
        span("b", 120, 160, parent="1"),
        span("c", 300, 400, parent="b"),  # outside b, and so its subtree too
    )
    assert path(trace) == [("1", 100, 120), ("b", 120, 160), ("1", 160, 200)]


def test_zero_length_children_at_one_instant_end_the_walk() -> None:
    trace = trace_of(
        span("1", 0, 100),
        span("a", 50, 50, parent="1"),
        span("b", 50, 50, parent="1"),
    )
    assert path(trace) == [("1", 0, 50), ("1", 50, 100)]


def test_the_longest_root_is_followed_when_the_real_root_is_missing() -> None:
    trace = trace_of(
        span("a", 0, 30, parent="f"),
        span("b", 10, 90, parent="f"),
        span("c", 20, 40, parent="b"),
    )
    assert path(trace) == [("b", 10, 20), ("c", 20, 40), ("b", 40, 90)]


def test_a_deep_chain_does_not_overflow_the_stack() -> None:
    depth = 3000
    spans = [span("1", 0, 2 * depth)]
    spans += [
        span(format(i + 1, "x"), i, 2 * depth - i, parent=format(i, "x")) for i in range(1, depth)
    ]
    segments = critical_path(trace_of(*spans))
    assert len(segments) == 2 * depth - 1


def test_a_trace_without_spans_has_no_path() -> None:
    assert critical_path(Trace("0af7651916cd43dd8448eb211c80319c", ())) == []


@st.composite
def random_trees(draw: st.DrawFn) -> Trace:
    count = draw(st.integers(1, 25))
    spans = [span("1", 0, draw(st.integers(0, 1000)))]
    for i in range(2, count + 1):
        parent = draw(st.integers(1, i - 1))
        start = draw(st.integers(-100, 1100))
        spans.append(
            span(
                format(i, "x"),
                start,
                start + draw(st.integers(0, 500)),
                parent=format(parent, "x"),
            )
        )
    return trace_of(*spans)


@settings(max_examples=200, deadline=None)
@given(random_trees())
def test_the_path_tiles_the_root_span_without_gaps_or_overlaps(trace: Trace) -> None:
    root = next(s for s in trace.spans if s.is_root)
    segments = critical_path(trace)
    ids = {s.span_id for s in trace.spans}
    position = root.start_time_unix_nano
    for segment in segments:
        assert segment.span_id in ids
        assert segment.start_ns == position
        assert segment.end_ns > segment.start_ns
        position = segment.end_ns
    assert position == max(root.end_time_unix_nano, root.start_time_unix_nano) or not segments
    assert segments or root.duration_ns == 0
