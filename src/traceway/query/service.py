"""The query service: the logic between the HTTP API (or UI) and a ``TraceReader``.

Handlers translate parameters and JSON; everything with a meaning for traces lives
here: trace-id normalisation, query validation, the search-limit cap, the span limit
of every trace read (``query.span_limit``) and the dependency time window. The
service is synchronous; async callers run it in a thread pool (readers may be called
from many threads at once).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

from traceway.model import Trace
from traceway.query.service_map import ServiceMap, build_service_map
from traceway.query.span_limit import DEFAULT_MAX_TRACE_SPANS
from traceway.query.stats import ServiceStats, summarize_stats
from traceway.query.summaries import TraceOrder, TraceSummary, sort_summaries, summarize
from traceway.storage.api import (
    DependencyLink,
    Operation,
    OperationQuery,
    StatsQuery,
    TraceQuery,
    TraceReader,
)

__all__ = [
    "MAX_SEARCH_LIMIT",
    "InvalidQueryError",
    "QueryService",
    "normalize_trace_id",
]

MAX_SEARCH_LIMIT = 1500
"""At most this many traces per search, whatever the caller asks for."""

_TRACE_ID_DIGITS = 32
_HEX_DIGITS = frozenset("0123456789abcdef")


class InvalidQueryError(ValueError):
    """A query that cannot be answered as asked (the caller's mistake, not storage's)."""


def normalize_trace_id(raw: str) -> str:
    """The canonical 32-digit lowercase form of a hex trace id.

    Jaeger accepts short ids (64-bit ids of old clients, or leading zeros dropped)
    and upper case, so ``ABC`` names the trace ``000...0abc``.
    """
    candidate = raw.strip().lower()
    if not candidate:
        raise InvalidQueryError("trace id is empty")
    if len(candidate) > _TRACE_ID_DIGITS:
        raise InvalidQueryError(
            f"trace id {raw!r} is longer than {_TRACE_ID_DIGITS} hex digits ({len(candidate)})"
        )
    if not _HEX_DIGITS.issuperset(candidate):
        raise InvalidQueryError(f"trace id {raw!r} is not hexadecimal")
    return candidate.rjust(_TRACE_ID_DIGITS, "0")


def _timestamp(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="microseconds")


def _validated(query: TraceQuery) -> TraceQuery:
    start, end = query.start_time_min_ns, query.start_time_max_ns
    if start is not None and end is not None and end < start:
        raise InvalidQueryError(
            f"the search window ends ({_timestamp(end)}) before it starts ({_timestamp(start)})"
        )
    low, high = query.duration_min_ns, query.duration_max_ns
    for name, value in (("minimum", low), ("maximum", high)):
        if value is not None and value < 0:
            raise InvalidQueryError(f"{name} duration must not be negative, got {value} ns")
    if low is not None and high is not None and high < low:
        raise InvalidQueryError(
            f"maximum duration ({high} ns) is shorter than minimum duration ({low} ns)"
        )
    if query.limit < 1:
        raise InvalidQueryError(f"limit must be at least 1, got {query.limit}")
    if query.limit > MAX_SEARCH_LIMIT:
        return dataclasses.replace(query, limit=MAX_SEARCH_LIMIT)
    return query


class QueryService:
    """Reads traces for the API and the UI; raises ``InvalidQueryError`` for bad queries.

    Every trace it returns holds at most ``max_trace_spans`` spans, the earliest by
    start time; ``Trace.omitted_span_count`` says how many more are stored.
    """

    def __init__(self, reader: TraceReader, max_trace_spans: int = DEFAULT_MAX_TRACE_SPANS) -> None:
        if max_trace_spans < 1:
            raise ValueError(f"max_trace_spans must be at least 1, got {max_trace_spans}")
        self._reader = reader
        self._max_trace_spans = max_trace_spans

    def get_services(self) -> list[str]:
        """Every service name that has spans, sorted."""
        return self._reader.get_services()

    def get_operations(self, query: OperationQuery) -> list[Operation]:
        """The (span name, kind) pairs of one service, sorted by name then kind."""
        if not query.service_name:
            raise InvalidQueryError("a service name is required to list operations")
        return self._reader.get_operations(query)

    def get_operation_names(self, service: str) -> list[str]:
        """The span names of one service, each once, sorted."""
        operations = self.get_operations(OperationQuery(service_name=service))
        return list(dict.fromkeys(op.name for op in operations))

    def find_traces(self, query: TraceQuery) -> list[Trace]:
        """Traces with one span matching every condition, newest first.

        The limit is capped at ``MAX_SEARCH_LIMIT``.
        """
        return self._reader.find_traces(_validated(query), max_spans=self._max_trace_spans)

    def get_trace(self, trace_id: str) -> Trace | None:
        """The trace with this id (short or upper-case hex accepted), or None."""
        return self._reader.get_trace(normalize_trace_id(trace_id), max_spans=self._max_trace_spans)

    def get_traces(self, trace_ids: Sequence[str]) -> tuple[list[Trace], list[str]]:
        """The traces found, in the order asked, and the normalised ids not found."""
        found: list[Trace] = []
        missing: list[str] = []
        for trace_id in dict.fromkeys(normalize_trace_id(raw) for raw in trace_ids):
            trace = self._reader.get_trace(trace_id, max_spans=self._max_trace_spans)
            if trace is None:
                missing.append(trace_id)
            else:
                found.append(trace)
        return found, missing

    def get_dependencies(
        self, end_ns: int, lookback_ns: int, service_name: str | None = None
    ) -> list[DependencyLink]:
        """Calls between services among spans starting from ``end - lookback`` to ``end``;
        with ``service_name``, only the calls from or to that service."""
        links = self._reader.get_dependencies(_window_start(end_ns, lookback_ns), end_ns)
        if service_name:
            links = [link for link in links if service_name in (link.parent, link.child)]
        return links

    def find_trace_summaries(
        self, query: TraceQuery, order: TraceOrder = TraceOrder.NEWEST
    ) -> list[TraceSummary]:
        """Summaries of the traces ``find_traces`` finds, sorted by ``order`` (see
        ``TraceSummary`` for what a summary of a cut trace counts)."""
        return sort_summaries([summarize(t) for t in self.find_traces(query) if t.spans], order)

    def get_service_map(self, end_ns: int, lookback_ns: int) -> ServiceMap:
        """Services and the calls between them among spans of the window, laid out."""
        return build_service_map(self.get_dependencies(end_ns, lookback_ns))

    def get_service_stats(
        self, end_ns: int, lookback_ns: int, service_name: str | None = None
    ) -> list[ServiceStats]:
        """Rates, errors and percentiles per service and operation over the window."""
        start_ns = _window_start(end_ns, lookback_ns)
        stats = self._reader.get_operation_stats(
            StatsQuery(start_time_ns=start_ns, end_time_ns=end_ns, service_name=service_name)
        )
        return summarize_stats(stats, start_ns, end_ns)


def _window_start(end_ns: int, lookback_ns: int) -> int:
    """The start of the window ``lookback_ns`` long ending at ``end_ns`` (not before 0)."""
    if lookback_ns < 0:
        raise InvalidQueryError(f"lookback must not be negative, got {lookback_ns} ns")
    if end_ns < 0:
        raise InvalidQueryError(f"end of the window must not be negative, got {end_ns} ns")
    return max(0, end_ns - lookback_ns)
