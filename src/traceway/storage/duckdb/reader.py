"""The read side of the DuckDB store: each function runs on a cursor the caller owns."""

from __future__ import annotations

import duckdb

from traceway.model import Span, SpanKind, Trace, is_valid_trace_id
from traceway.storage.api import Operation, OperationQuery, TraceQuery
from traceway.storage.duckdb.rows import SPAN_COLUMNS, ReferenceRows
from traceway.storage.duckdb.search import span_filter
from traceway.storage.duckdb.windows import TimeRange, search_windows

__all__ = [
    "find_trace_ids",
    "find_traces",
    "get_operations",
    "get_services",
    "get_trace",
]

# SQL below is assembled only from constants of this package; values are parameters.

_NEARBY_NS = 10 * 60 * 10**9
"""Traces whose spans start this close in time are read by one query."""


def get_services(cur: duckdb.DuckDBPyConnection) -> list[str]:
    rows = cur.execute(
        "SELECT DISTINCT service_name FROM operations ORDER BY service_name"
    ).fetchall()
    return [service for (service,) in rows]


def get_operations(cur: duckdb.DuckDBPyConnection, query: OperationQuery) -> list[Operation]:
    sql = "SELECT name, kind FROM operations WHERE service_name = ?"
    params: list[object] = [query.service_name]
    if query.span_kind is not None:
        sql += " AND kind = ?"
        params.append(int(query.span_kind))
    rows = cur.execute(sql + " ORDER BY name, kind", params).fetchall()
    return [Operation(name, SpanKind(kind)) for name, kind in rows]


def _time_groups(bounds: list[tuple[int, int, int]]) -> list[tuple[int, int, list[int]]]:
    """Traces' (start min, start max, id) merged into groups of nearby time ranges."""
    groups: list[tuple[int, int, list[int]]] = []
    for low, high, trace_id in sorted(bounds):
        if groups and low - groups[-1][1] <= _NEARBY_NS:
            group_low, group_high, ids = groups[-1]
            groups[-1] = (group_low, max(group_high, high), [*ids, trace_id])
        else:
            groups.append((low, high, [trace_id]))
    return groups


def _trace_id_param(trace_id: str) -> str:
    """A trace id as a parameter for ``CAST(? AS UHUGEINT)``: exact, where a Python int
    above 2**64 may be bound as a DOUBLE."""
    return "0x" + trace_id


def _in_list(count: int) -> str:
    return ", ".join("CAST(? AS UHUGEINT)" for _ in range(count))


def _traces(
    cur: duckdb.DuckDBPyConnection, trace_ids: list[str], references: ReferenceRows
) -> list[Trace]:
    """The stored traces of ``trace_ids``, in that order (ids that are stored only).

    First ``traces`` says when each trace's spans start; then the spans are read
    with those start times as a filter, which lets DuckDB skip the row groups of
    other times (one query per group of traces close in time).
    """
    if not trace_ids:
        return []
    bounds = cur.execute(
        "SELECT min(start_min_ns), max(start_max_ns), trace_id FROM traces "  # noqa: S608
        f"WHERE trace_id IN ({_in_list(len(trace_ids))}) GROUP BY trace_id",
        [_trace_id_param(trace_id) for trace_id in trace_ids],
    ).fetchall()
    if not bounds:
        return []
    selects, params = [], []
    for low, high, group in _time_groups(bounds):
        selects.append(
            f"SELECT s.rowid AS row_number, {SPAN_COLUMNS} FROM spans s "  # noqa: S608
            f"WHERE s.start_time_ns BETWEEN ? AND ? AND s.trace_id IN ({_in_list(len(group))})"
        )
        params += [low, high, *(f"0x{trace_id:032x}" for trace_id in group)]
    rows = cur.execute(" UNION ALL ".join(selects) + " ORDER BY row_number", params).fetchall()
    if not rows:
        return []
    decoder = references.decoder(cur, (row[1:] for row in rows))
    # In storage order, so that a span id stored twice (see writer) shows the first.
    spans: dict[str, dict[str, Span]] = {}
    for row in rows:
        span = decoder.span(row[1:])
        spans.setdefault(span.trace_id, {}).setdefault(span.span_id, span)
    return [
        Trace(trace_id, tuple(sorted(spans[trace_id].values(), key=_span_order)))
        for trace_id in trace_ids
        if trace_id in spans
    ]


def _span_order(span: Span) -> tuple[int, str]:
    return span.start_time_unix_nano, span.span_id


def get_trace(
    cur: duckdb.DuckDBPyConnection, trace_id: str, references: ReferenceRows
) -> Trace | None:
    if not is_valid_trace_id(trace_id):
        return None  # nothing with such an id can have been stored
    found = _traces(cur, [trace_id], references)
    return found[0] if found else None


def _matches_in(
    cur: duckdb.DuckDBPyConnection,
    query: TraceQuery,
    start_min: int | None,
    start_max: int | None,
    limit: int,
) -> list[str]:
    """Matching trace ids by their newest matching span that starts inside the window."""
    found = span_filter(query)
    where, params = found.where, list(found.params)
    if start_min is not None:
        where += " AND s.start_time_ns >= ?"
        params.append(start_min)
    if start_max is not None:
        where += " AND s.start_time_ns <= ?"
        params.append(start_max)
    rows = cur.execute(
        f"""
        SELECT s.trace_id, max(s.start_time_ns) AS newest
        FROM spans s
        WHERE {where}
        GROUP BY s.trace_id
        ORDER BY newest DESC, s.trace_id
        LIMIT ?
        """,  # noqa: S608
        [*params, limit],
    ).fetchall()
    return [f"{trace_id:032x}" for trace_id, _ in rows]


def find_trace_ids(
    cur: duckdb.DuckDBPyConnection, query: TraceQuery, stored: TimeRange | None
) -> list[str]:
    """Search newest first, window by window, until ``limit`` traces are found.

    A trace first found in a window has its newest matching span there, newer than
    any match of a trace found later, so the windows' results concatenate in order.
    """
    if query.limit <= 0:
        return []
    found: list[str] = []
    seen: set[str] = set()
    for start_min, start_max in search_windows(
        query.start_time_min_ns, query.start_time_max_ns, stored
    ):
        for trace_id in _matches_in(cur, query, start_min, start_max, query.limit + len(found)):
            if trace_id not in seen:
                seen.add(trace_id)
                found.append(trace_id)
        if len(found) >= query.limit:
            break
    return found[: query.limit]


def find_traces(
    cur: duckdb.DuckDBPyConnection,
    query: TraceQuery,
    stored: TimeRange | None,
    references: ReferenceRows,
) -> list[Trace]:
    return _traces(cur, find_trace_ids(cur, query, stored), references)
