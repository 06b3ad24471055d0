"""The span limit of ``get_trace``/``find_traces`` (``max_spans``), on every backend.

Expected spans are listed by hand: the earliest by (start time, span id), a span id
stored twice counted once as the copy stored first.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.storage.fixture_data import at_ms, load_spans
from traceway.model import Resource, Span, Trace
from traceway.storage.api import TraceQuery, TraceStore

TRACE = "5b8efff798038103d269b633813fc60c"
OTHER = "0af7651916cd43dd8448eb211c80319c"


def span(number: int, start_ms: int, trace_id: str = TRACE, **changes: Any) -> Span:
    """Span ``number`` (its id ``000...0<number>``) starting ``start_ms`` after the base."""
    return dataclasses.replace(
        Span(
            trace_id,
            f"{number:016x}",
            f"op-{number}",
            at_ms(start_ms),
            at_ms(start_ms + 1),
            resource=Resource({"service.name": "svc"}),
        ),
        **changes,
    )


# Stored out of order; 3 and 4 start together, so the span id decides between them.
SPANS = [span(7, 6), span(1, 0), span(4, 2), span(3, 2), span(9, 8), span(2, 1), span(8, 7),
         span(6, 5), span(5, 4), span(10, 9)]  # fmt: skip


def ids(trace: Trace | None) -> list[int]:
    assert trace is not None
    return [int(s.span_id, 16) for s in trace.spans]


@pytest.fixture
def stored(store: TraceStore) -> TraceStore:
    store.write_spans(SPANS[:5])
    store.write_spans(SPANS[5:])
    return store


def test_a_trace_over_the_limit_keeps_its_earliest_spans(stored: TraceStore) -> None:
    trace = stored.get_trace(TRACE, max_spans=4)
    assert ids(trace) == [1, 2, 3, 4]
    assert trace is not None
    assert trace.omitted_span_count == 6
    assert trace.total_span_count == 10


def test_the_kept_spans_are_whole_and_equal_to_an_unlimited_reads(stored: TraceStore) -> None:
    whole = stored.get_trace(TRACE)
    cut = stored.get_trace(TRACE, max_spans=7)
    assert whole is not None
    assert cut == Trace(TRACE, whole.spans[:7], omitted_span_count=3)


@pytest.mark.parametrize("max_spans", [10, 11, 50_000, None])
def test_a_trace_within_the_limit_is_untouched(stored: TraceStore, max_spans: int | None) -> None:
    trace = stored.get_trace(TRACE, max_spans=max_spans)
    assert ids(trace) == list(range(1, 11))
    assert trace == stored.get_trace(TRACE)
    assert trace is not None
    assert trace.omitted_span_count == 0


def test_a_limit_of_one_keeps_the_first_span(stored: TraceStore) -> None:
    trace = stored.get_trace(TRACE, max_spans=1)
    assert ids(trace) == [1]
    assert trace is not None
    assert trace.omitted_span_count == 9


def test_a_span_stored_twice_counts_once_as_its_first_copy(store: TraceStore) -> None:
    first = [span(1, 0), span(2, 1), span(3, 2), span(4, 3)]
    store.write_spans(first)
    # Span 4 again, now starting first: a backend may keep this copy beside the stored
    # one (another start time), but only the first stored may show, in its place.
    store.write_spans([span(4, -5, name="again"), span(1, 0)])
    trace = store.get_trace(TRACE, max_spans=2)
    assert trace == Trace(TRACE, (first[0], first[1]), omitted_span_count=2)
    whole = store.get_trace(TRACE, max_spans=4)
    assert whole == Trace(TRACE, tuple(first))


def test_copies_beyond_the_limit_do_not_cut_a_trace_within_it(store: TraceStore) -> None:
    first = [span(1, 0), span(2, 1), span(3, 2)]
    other = [span(1, 30, OTHER)]
    store.write_spans([*first, *other])
    store.write_spans([span(2, 10), span(3, 11)])
    assert store.get_trace(TRACE, max_spans=3) == Trace(TRACE, tuple(first))
    assert store.find_traces(TraceQuery(), max_spans=3) == [
        Trace(OTHER, tuple(other)),
        Trace(TRACE, tuple(first)),
    ]
    assert store.find_traces(TraceQuery(), max_spans=2) == [
        Trace(OTHER, tuple(other)),
        Trace(TRACE, tuple(first[:2]), omitted_span_count=1),
    ]


def test_search_results_are_cut_one_trace_at_a_time(stored: TraceStore) -> None:
    small = [span(1, 20, OTHER), span(2, 21, OTHER)]
    stored.write_spans(small)
    found = stored.find_traces(TraceQuery(), max_spans=3)
    assert [trace.trace_id for trace in found] == [OTHER, TRACE]  # newest first
    assert found[0] == Trace(OTHER, tuple(small))
    assert ids(found[1]) == [1, 2, 3]
    assert found[1].omitted_span_count == 7
    assert stored.find_traces(TraceQuery()) == [Trace(OTHER, tuple(small)), stored.get_trace(TRACE)]


def test_every_fixture_trace_cut_to_one_span_reports_the_rest(loaded_store: TraceStore) -> None:
    by_trace: dict[str, list[Span]] = {}
    for each in load_spans():
        by_trace.setdefault(each.trace_id, []).append(each)
    for trace_id, spans in by_trace.items():
        earliest = min(spans, key=lambda s: (s.start_time_unix_nano, s.span_id))
        expected = Trace(trace_id, (earliest,), omitted_span_count=len(spans) - 1)
        assert loaded_store.get_trace(trace_id, max_spans=1) == expected


@pytest.mark.parametrize("max_spans", [0, -1])
def test_a_limit_below_one_is_refused(stored: TraceStore, max_spans: int) -> None:
    with pytest.raises(ValueError, match="max_spans"):
        stored.get_trace(TRACE, max_spans=max_spans)
    with pytest.raises(ValueError, match="max_spans"):
        stored.find_traces(TraceQuery(), max_spans=max_spans)
