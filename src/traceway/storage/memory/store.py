"""``MemoryStore``: the plain-Python reference backend the conformance suite trusts."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from traceway.model import Span, Trace
from traceway.storage.api import (
    DependencyLink,
    Operation,
    OperationQuery,
    OperationStats,
    StatsQuery,
    StorageError,
    TraceQuery,
)
from traceway.storage.memory.copying import copy_span
from traceway.storage.memory.search import span_matches
from traceway.storage.memory.stats import dependency_links, operation_stats
from traceway.storage.validation import check_span_limit, check_spans

__all__ = ["MemoryStore"]

_SpanKey = tuple[str, str]

SPAN_BYTES_ESTIMATE = 1024
"""What ``storage_bytes`` counts per span: a rough, fixed guess, not a measurement."""


def _span_order(span: Span) -> tuple[int, str]:
    return span.start_time_unix_nano, span.span_id


class MemoryStore:
    """Spans in a dict, searched by looking at every one; for tests and as the reference.

    Nothing survives the process, so "durable" means "visible to readers on return".
    """

    concurrent_writes = 1

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: dict[_SpanKey, Span] = {}
        self._closed = False

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _snapshot(self) -> list[Span]:
        with self._lock:
            if self._closed:
                raise StorageError("the memory store is closed")
            return list(self._spans.values())

    def write_spans(self, spans: Sequence[Span]) -> None:
        """Store copies of ``spans``; a (trace id, span id) already stored is kept as is."""
        check_spans(spans)
        copies = [copy_span(span) for span in spans]
        with self._lock:
            if self._closed:
                raise StorageError("the memory store is closed")
            for span in copies:
                self._spans.setdefault((span.trace_id, span.span_id), span)

    def delete_traces_before(self, cutoff_ns: int) -> int:
        """Delete every trace whose last span starts before ``cutoff_ns``; return the
        number of spans deleted."""
        with self._lock:
            if self._closed:
                raise StorageError("the memory store is closed")
            last_start: dict[str, int] = {}
            for span in self._spans.values():
                start = span.start_time_unix_nano
                last_start[span.trace_id] = max(start, last_start.get(span.trace_id, start))
            expired = [key for key in self._spans if last_start[key[0]] < cutoff_ns]
            for key in expired:
                del self._spans[key]
            return len(expired)

    def storage_bytes(self) -> int:
        """An estimate: ``SPAN_BYTES_ESTIMATE`` per stored span."""
        return len(self._snapshot()) * SPAN_BYTES_ESTIMATE

    def oldest_trace_start_ns(self) -> int | None:
        return min((span.start_time_unix_nano for span in self._snapshot()), default=None)

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def get_services(self) -> list[str]:
        return sorted({span.service_name for span in self._snapshot()})

    def get_operations(self, query: OperationQuery) -> list[Operation]:
        pairs = {
            (span.name, span.kind)
            for span in self._snapshot()
            if span.service_name == query.service_name
            and (query.span_kind is None or span.kind == query.span_kind)
        }
        return [Operation(name, kind) for name, kind in sorted(pairs)]

    def get_trace(self, trace_id: str, max_spans: int | None = None) -> Trace | None:
        check_span_limit(max_spans)
        spans = [span for span in self._snapshot() if span.trace_id == trace_id]
        if not spans:
            return None
        spans.sort(key=_span_order)
        kept = spans if max_spans is None else spans[:max_spans]
        return Trace(trace_id, tuple(copy_span(span) for span in kept), len(spans) - len(kept))

    def find_trace_ids(self, query: TraceQuery) -> list[str]:
        newest_match: dict[str, int] = {}
        for span in self._snapshot():
            if span_matches(span, query):
                start = span.start_time_unix_nano
                newest_match[span.trace_id] = max(start, newest_match.get(span.trace_id, start))
        # Newest first; equal times in trace id order, so every backend agrees.
        ordered = sorted(newest_match, key=lambda trace_id: (-newest_match[trace_id], trace_id))
        return ordered[: max(query.limit, 0)]

    def find_traces(self, query: TraceQuery, max_spans: int | None = None) -> list[Trace]:
        check_span_limit(max_spans)
        traces = (self.get_trace(trace_id, max_spans) for trace_id in self.find_trace_ids(query))
        return [trace for trace in traces if trace is not None]

    def get_dependencies(self, start_time_ns: int, end_time_ns: int) -> list[DependencyLink]:
        return dependency_links(
            [
                span
                for span in self._snapshot()
                if start_time_ns <= span.start_time_unix_nano <= end_time_ns
            ]
        )

    def get_operation_stats(self, query: StatsQuery) -> list[OperationStats]:
        return operation_stats(
            span
            for span in self._snapshot()
            if query.start_time_ns <= span.start_time_unix_nano <= query.end_time_ns
            and (query.service_name is None or span.service_name == query.service_name)
        )
