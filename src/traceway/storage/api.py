"""What every storage backend provides: a ``TraceWriter`` and a ``TraceReader``.

The contracts (every backend passes the shared suite in ``tests/storage/``):

* ``write_spans`` is durable on return: once it returns, the spans survive a crash
  of the process. It is atomic: a batch is stored whole or not at all. It is
  idempotent: writing the same ``(trace_id, span_id)`` again stores it once, and the
  span stored first stays (also within one batch). A backend may tell stored spans
  apart by their start time as well (so that it need not index the ids): a span
  reusing the ids of a stored span with another start time may then be kept beside
  it, and only ``get_trace``/``find_traces`` still show the first alone; searches
  and statistics may count both. It is called from at most ``concurrent_writes``
  threads at once (one, unless the backend says more); writes made at once are
  idempotent together too. Spans with malformed ids or numbers out of OTLP's ranges
  are refused whole-batch with ``ValueError`` (receivers validate; see
  ``storage.validation``).
* Readers may be called from many threads at once, concurrently with the writers, and
  see whole batches only. They return new objects the caller owns; nothing returned
  is shared with storage. After ``close`` every call raises ``StorageError``.
* Search semantics (``TraceQuery``): a trace matches when **one span** of it has the
  service, the operation, every tag, a duration inside the bounds and (with
  ``errors_only``) an error status, and starts inside the time window; all bounds
  are inclusive, a span's duration is ``Span.duration_ns``. Tags match a span
  attribute or a resource attribute of that span, compared as text (``true``,
  ``42``, ``1.5``; the exact forms are in ``storage.search_text``), plus the derived
  tags ``span.kind`` (``server``, ``client``, ...), ``error`` (``true`` on error
  spans) and ``otel.status_code`` (``OK``/``ERROR``). Traces come back newest first
  by the start of their newest matching span, equal starts in trace id order, at most
  ``limit`` (none when ``limit`` < 1).
* Span limit: ``get_trace`` and ``find_traces`` take ``max_spans`` (None: no limit,
  else at least 1). A trace with more spans comes back with the earliest ``max_spans``
  by (start time, span id) and ``Trace.omitted_span_count`` set to how many more are
  stored; duplicates of a span id count once, as the first stored. The spans beyond
  the limit are not brought into Python (a backend reads them as little as it can).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from traceway.model import Span, SpanKind, Trace

__all__ = [
    "DependencyLink",
    "Operation",
    "OperationQuery",
    "OperationStats",
    "StatsQuery",
    "StorageError",
    "TraceQuery",
    "TraceReader",
    "TraceStore",
    "TraceWriter",
]

DEFAULT_SEARCH_LIMIT = 20


class StorageError(Exception):
    """A backend could not do what was asked (disk full, read-only, corrupt file)."""


@dataclass(frozen=True, slots=True)
class TraceQuery:
    """A trace search; every condition that is set must hold on one span."""

    service_name: str | None = None
    operation_name: str | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    start_time_min_ns: int | None = None
    start_time_max_ns: int | None = None
    duration_min_ns: int | None = None
    duration_max_ns: int | None = None
    errors_only: bool = False
    limit: int = DEFAULT_SEARCH_LIMIT


@dataclass(frozen=True, slots=True)
class OperationQuery:
    """Operations (span names) of one service, optionally of one span kind."""

    service_name: str
    span_kind: SpanKind | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    span_kind: SpanKind


@dataclass(frozen=True, slots=True)
class DependencyLink:
    """Calls from ``parent`` service to ``child`` service: spans of ``child`` whose
    parent span (same trace) belongs to ``parent``, a different service; errors are
    those child spans with ERROR status."""

    parent: str
    child: str
    call_count: int
    error_count: int = 0
    p95_duration_ns: int = 0
    """95th percentile (nearest rank) of the child spans' durations."""


@dataclass(frozen=True, slots=True)
class StatsQuery:
    """Per-operation statistics over spans that start inside [start, end]."""

    start_time_ns: int
    end_time_ns: int
    service_name: str | None = None


@dataclass(frozen=True, slots=True)
class OperationStats:
    """Count, errors (ERROR status) and duration percentiles of one (service, span name,
    kind). Percentiles are nearest-rank: the smallest duration that at least that share
    of the spans does not exceed, so always a duration that occurred."""

    service_name: str
    operation_name: str
    span_kind: SpanKind
    count: int
    error_count: int
    p50_duration_ns: int
    p95_duration_ns: int
    p99_duration_ns: int


@runtime_checkable
class TraceWriter(Protocol):
    concurrent_writes: int
    """How many threads may be in ``write_spans`` at once; 1 for one at a time."""

    def write_spans(self, spans: Sequence[Span]) -> None:
        """Store spans durably, atomically and idempotently; raise ``StorageError`` on
        failure and ``ValueError`` for malformed spans."""

    def delete_traces_before(self, cutoff_ns: int) -> int:
        """Delete every trace whose last span starts before ``cutoff_ns``, whole, with
        the services, operations, resources and scopes only its spans used; return the
        number of spans deleted. Durable and atomic like a write, idempotent, called
        from the writing thread (or serialised with writes by the backend).

        A backend that finds traces by a shortened key may keep an expired trace while
        a newer trace shares its key (DuckDB: 32 bits of the trace id), until that one
        expires too; it never deletes a trace that has not expired, nor part of one."""

    def storage_bytes(self) -> int:
        """Bytes the stored traces take, as retention should count them (a backend
        documents what it measures; an estimate is allowed)."""

    def oldest_trace_start_ns(self) -> int | None:
        """The earliest start time of a stored span; None when nothing is stored."""

    def close(self) -> None:
        """Flush and release resources; calling it twice is harmless."""


@runtime_checkable
class TraceReader(Protocol):
    def get_services(self) -> list[str]:
        """Every service name that has spans, sorted."""

    def get_operations(self, query: OperationQuery) -> list[Operation]:
        """Distinct (span name, kind) pairs of the service, sorted by name then kind."""

    def get_trace(self, trace_id: str, max_spans: int | None = None) -> Trace | None:
        """Every span of the trace (the first ``max_spans``) ordered by start time then
        span id, or None if none is stored (also for an id that is not 32 lowercase hex
        digits); ``ValueError`` when ``max_spans`` is below 1."""

    def find_trace_ids(self, query: TraceQuery) -> list[str]:
        """Ids of matching traces, newest first, at most ``query.limit``."""

    def find_traces(self, query: TraceQuery, max_spans: int | None = None) -> list[Trace]:
        """The matching traces with all their spans (the first ``max_spans`` of each), in
        ``find_trace_ids`` order; ``ValueError`` when ``max_spans`` is below 1."""

    def get_dependencies(self, start_time_ns: int, end_time_ns: int) -> list[DependencyLink]:
        """Service-to-service calls among spans that start inside the window (both
        the parent and the child span; bounds inclusive), sorted by (parent, child)."""

    def get_operation_stats(self, query: StatsQuery) -> list[OperationStats]:
        """Count, errors and nearest-rank duration percentiles per (service, span name,
        kind) of the spans starting inside the window, sorted by those three."""


@runtime_checkable
class TraceStore(TraceWriter, TraceReader, Protocol):
    """A backend that both writes and reads: what ``open_store`` returns."""
