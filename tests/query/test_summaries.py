"""Trace summaries and their sort orders."""

from __future__ import annotations

from dataclasses import replace

from tests.query.spans import MS, T0, TRACE, span, trace_of
from traceway.query.summaries import TraceOrder, TraceSummary, sort_summaries, summarize


def test_a_summary_counts_spans_errors_and_services() -> None:
    summary = summarize(
        trace_of(
            span("1", 0, 100, service="gateway", name="GET /"),
            span("2", 10, 90, parent="1", service="order"),
            span("3", 20, 80, parent="2", service="order", error=True),
            span("4", 30, 40, parent="3", service="db", error=True),
        )
    )
    assert summary.trace_id == TRACE
    assert (summary.root_service, summary.root_operation) == ("gateway", "GET /")
    assert not summary.root_missing
    assert (summary.start_ns, summary.duration_ns) == (T0, 100 * MS)
    assert (summary.span_count, summary.error_count, summary.depth) == (4, 2, 4)
    assert [(s.service_name, s.span_count, s.error_count) for s in summary.services] == [
        ("order", 2, 1),
        ("db", 1, 1),
        ("gateway", 1, 0),
    ]


def test_a_trace_whose_root_has_not_arrived_says_so() -> None:
    summary = summarize(trace_of(span("2", 10, 20, parent="1", service="late", name="child")))
    assert summary.root_missing
    assert (summary.root_service, summary.root_operation) == ("late", "child")


def _summary(trace_id: str, start: int, end: int, spans: int, errors: int) -> TraceSummary:
    base = summarize(trace_of(span("1", start, end)))
    return replace(
        base,
        trace_id=trace_id,
        span_count=spans,
        error_count=errors,
        start_ns=T0 + start * MS,
        duration_ns=(end - start) * MS,
    )


def test_results_sort_by_each_order_with_newer_first_on_ties() -> None:
    old_long = _summary("a" * 32, 0, 500, 3, 0)
    new_short = _summary("b" * 32, 100, 110, 9, 2)
    mid = _summary("c" * 32, 50, 300, 9, 1)
    rows = [old_long, new_short, mid]

    def ids(order: TraceOrder) -> list[str]:
        return [s.trace_id[0] for s in sort_summaries(rows, order)]

    assert ids(TraceOrder.NEWEST) == ["b", "c", "a"]
    assert ids(TraceOrder.LONGEST) == ["a", "c", "b"]
    assert ids(TraceOrder.MOST_SPANS) == ["b", "c", "a"]
    assert ids(TraceOrder.MOST_ERRORS) == ["b", "c", "a"]
