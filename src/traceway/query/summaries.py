"""Trace summaries: what a search result list and a trace header show about a trace."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from traceway.model import Trace
from traceway.query.span_limit import cut_notice
from traceway.query.span_tree import SpanTree

__all__ = ["ServiceSpanCount", "TraceOrder", "TraceSummary", "sort_summaries", "summarize"]


@dataclass(frozen=True, slots=True)
class ServiceSpanCount:
    service_name: str
    span_count: int
    error_count: int


@dataclass(frozen=True, slots=True)
class TraceSummary:
    """One trace at a glance; the root is the earliest root span (see ``SpanTree``).

    Of a trace cut by the span limit, ``span_count`` is every stored span; the other
    figures (errors, services, depth, duration) describe the spans read, the earliest.
    """

    trace_id: str
    root_service: str
    root_operation: str
    root_missing: bool
    """True when no span of the trace lacks a parent id: the real root has not arrived."""
    start_ns: int
    duration_ns: int
    span_count: int
    error_count: int
    depth: int
    services: tuple[ServiceSpanCount, ...]
    """Services by span count, most first, then by name."""
    omitted_span_count: int = 0
    """Spans stored but not read, beyond the span limit."""

    @property
    def cut_notice(self) -> str | None:
        """What to tell the reader of a trace cut by the span limit; None when whole."""
        return cut_notice(self.span_count - self.omitted_span_count, self.span_count)


def summarize(trace: Trace, tree: SpanTree | None = None) -> TraceSummary:
    """The summary of a trace that has at least one span; ``tree``, when given, is its
    already built ``SpanTree``."""
    if tree is None:
        tree = SpanTree.of(trace)
    root = tree.roots[0] if tree.roots else trace.spans[0]
    spans = Counter(span.service_name for span in trace.spans)
    errors = Counter(span.service_name for span in trace.spans if span.is_error)
    services = tuple(
        ServiceSpanCount(name, count, errors[name])
        for name, count in sorted(spans.items(), key=lambda item: (-item[1], item[0]))
    )
    return TraceSummary(
        trace_id=trace.trace_id,
        root_service=root.service_name,
        root_operation=root.name,
        root_missing=not any(span.is_root for span in trace.spans),
        start_ns=trace.start_time_unix_nano,
        duration_ns=trace.duration_ns,
        span_count=trace.total_span_count,
        error_count=sum(errors.values()),
        depth=tree.depth(),
        services=services,
        omitted_span_count=trace.omitted_span_count,
    )


class TraceOrder(Enum):
    """How a result list is sorted; the value is its name in a URL."""

    NEWEST = "newest"
    LONGEST = "longest"
    MOST_SPANS = "spans"
    MOST_ERRORS = "errors"


_SORT_KEYS: dict[TraceOrder, Callable[[TraceSummary], tuple[int, ...]]] = {
    TraceOrder.NEWEST: lambda s: (-s.start_ns,),
    TraceOrder.LONGEST: lambda s: (-s.duration_ns, -s.start_ns),
    TraceOrder.MOST_SPANS: lambda s: (-s.span_count, -s.start_ns),
    TraceOrder.MOST_ERRORS: lambda s: (-s.error_count, -s.start_ns),
}


def sort_summaries(summaries: Sequence[TraceSummary], order: TraceOrder) -> list[TraceSummary]:
    """Summaries in ``order``; ties go to the newer trace, then to the lower trace id."""
    key = _SORT_KEYS[order]
    return sorted(summaries, key=lambda s: (*key(s), s.trace_id))
