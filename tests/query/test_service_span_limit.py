"""The query service's span limit: every trace it returns holds at most that many spans."""

from __future__ import annotations

import dataclasses

import pytest

from tests.query.spans import TRACE, span
from traceway.model import Span, Trace
from traceway.query.service import QueryService
from traceway.query.span_limit import DEFAULT_MAX_TRACE_SPANS, cut_notice
from traceway.query.summaries import summarize
from traceway.storage.api import TraceQuery
from traceway.storage.memory import MemoryStore

SMALL = "00000000000000000000000000000abc"

# A root and four children, one of them an error, stored newest first.
SPANS = [
    span("5", 4, 5, parent="1", service="db", error=True),
    span("4", 3, 5, parent="1", service="db"),
    span("3", 2, 5, parent="1", service="api"),
    span("2", 1, 5, parent="1", service="api"),
    span("1", 0, 9, service="gateway"),
]
SMALL_SPANS = [dataclasses.replace(span("a", 20, 21), trace_id=SMALL)]


class RecordingReader(MemoryStore):
    """A MemoryStore that remembers the span limits it was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.limits: list[int | None] = []

    def get_trace(self, trace_id: str, max_spans: int | None = None) -> Trace | None:
        self.limits.append(max_spans)
        return super().get_trace(trace_id, max_spans)

    def find_traces(self, query: TraceQuery, max_spans: int | None = None) -> list[Trace]:
        self.limits.append(max_spans)
        return super().find_traces(query, max_spans)


@pytest.fixture
def store() -> RecordingReader:
    store = RecordingReader()
    store.write_spans([*SPANS, *SMALL_SPANS])
    return store


@pytest.fixture
def service(store: RecordingReader) -> QueryService:
    return QueryService(store, max_trace_spans=3)


def span_ids(trace: Trace | None) -> list[str]:
    assert trace is not None
    return [s.span_id.lstrip("0") for s in trace.spans]


def test_trace_by_id_keeps_the_earliest_spans_and_counts_the_rest(service: QueryService) -> None:
    trace = service.get_trace(TRACE)
    assert span_ids(trace) == ["1", "2", "3"]
    assert trace is not None
    assert (trace.omitted_span_count, trace.total_span_count) == (2, 5)


def test_a_trace_within_the_limit_is_whole(service: QueryService) -> None:
    trace = service.get_trace(SMALL)
    assert trace == Trace(SMALL, tuple(SMALL_SPANS))


def test_multi_get_and_search_apply_the_limit_to_each_trace(service: QueryService) -> None:
    found, missing = service.get_traces([TRACE, SMALL, "ffff"])
    assert [(t.trace_id, len(t.spans), t.omitted_span_count) for t in found] == [
        (TRACE, 3, 2),
        (SMALL, 1, 0),
    ]
    assert missing == ["0" * 28 + "ffff"]
    searched = service.find_traces(TraceQuery())
    assert [(t.trace_id, len(t.spans), t.omitted_span_count) for t in searched] == [
        (SMALL, 1, 0),
        (TRACE, 3, 2),
    ]


def test_summaries_count_every_stored_span_and_say_the_trace_was_cut(
    service: QueryService,
) -> None:
    summaries = {s.trace_id: s for s in service.find_trace_summaries(TraceQuery())}
    cut = summaries[TRACE]
    assert cut.span_count == 5
    assert cut.omitted_span_count == 2
    assert cut.error_count == 0  # the error span is beyond the limit: not read
    assert cut.cut_notice == (
        "trace has 5 spans; showing the first 3 by start time "
        "(the limit is traceway serve --max-trace-spans)"
    )
    assert summaries[SMALL].cut_notice is None


def test_the_default_limit_is_passed_to_every_read(store: RecordingReader) -> None:
    service = QueryService(store)
    for read in (
        lambda: service.get_trace(TRACE),
        lambda: service.get_traces([SMALL]),
        lambda: service.find_traces(TraceQuery()),
    ):
        store.limits.clear()
        read()
        assert store.limits[0] == DEFAULT_MAX_TRACE_SPANS
    assert DEFAULT_MAX_TRACE_SPANS == 50_000


@pytest.mark.parametrize("limit", [0, -3])
def test_a_limit_below_one_is_refused(store: RecordingReader, limit: int) -> None:
    with pytest.raises(ValueError, match="max_trace_spans must be at least 1"):
        QueryService(store, max_trace_spans=limit)


def test_the_notice_names_both_counts_with_separators() -> None:
    assert cut_notice(50_000, 120_000) == (
        "trace has 120,000 spans; showing the first 50,000 by start time "
        "(the limit is traceway serve --max-trace-spans)"
    )
    assert cut_notice(7, 7) is None


def test_a_summary_of_a_whole_trace_has_no_notice() -> None:
    spans: tuple[Span, ...] = tuple(reversed(SPANS))
    summary = summarize(Trace(TRACE, spans))
    assert (summary.span_count, summary.omitted_span_count, summary.cut_notice) == (5, 0, None)
