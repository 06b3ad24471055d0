"""The read side of the DuckDB store: each function runs on a cursor the caller owns."""

from __future__ import annotations

from itertools import chain
from operator import itemgetter
from typing import Any

import duckdb

from traceway.model import Span, SpanKind, Trace, is_valid_trace_id
from traceway.storage.api import Operation, OperationQuery, TraceQuery
from traceway.storage.duckdb.rows import SPAN_COLUMNS, ReferenceRows
from traceway.storage.duckdb.search import SpanFilter, span_filter
from traceway.storage.duckdb.trace_lookup import trace_bounds
from traceway.storage.duckdb.windows import TimeRange, search_windows
from traceway.storage.validation import check_span_limit

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


def _in_list(count: int) -> str:
    return ", ".join("CAST(? AS UHUGEINT)" for _ in range(count))


def _spans_near(bounds: list[tuple[int, int, int]], columns: str) -> tuple[str, list[object]]:
    """A query of ``columns`` (and ``row_id``) of the spans of the traces in ``bounds``.

    The traces' start times filter the spans, which lets DuckDB skip the row groups
    of other times (one ``SELECT`` per group of traces close in time).
    """
    selects, params = [], []
    for low, high, group in _time_groups(bounds):
        selects.append(
            f"SELECT s.rowid AS row_id, {columns} FROM spans s "  # noqa: S608
            f"WHERE s.start_time_ns BETWEEN ? AND ? AND s.trace_id IN ({_in_list(len(group))})"
        )
        params += [low, high, *(f"0x{trace_id:032x}" for trace_id in group)]
    return " UNION ALL ".join(selects), params


# Rows of traces that have at most ? rows: the common case, read in one pass. A trace
# with more rows (duplicates of a span id included) is left out. Python sorts the rows
# by row_id, which is cheaper than an ORDER BY here.
_WHOLE_TRACES = """
SELECT found.*
FROM ({spans}) found
QUALIFY count(*) OVER (PARTITION BY trace_id) <= ?
"""
# The same for one trace, without the window: more than ? rows means it has too many.
_WHOLE_TRACE = "SELECT * FROM ({spans}) found LIMIT ?"

# The first ? spans of each trace by (start, span id), each span id once as first
# stored, and how many distinct spans the trace has. Ranked on the narrow columns,
# so that only the kept rows' wide columns are carried past the join.
_FIRST_SPANS = """
WITH ranked AS (
    SELECT row_id, trace_id, span_id, start_time_ns FROM ({ids}) found
    QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY row_id) = 1
), kept AS (
    SELECT row_id, count(*) OVER (PARTITION BY trace_id) AS span_count FROM ranked
    QUALIFY row_number() OVER (PARTITION BY trace_id ORDER BY start_time_ns, span_id) <= ?
)
SELECT kept.span_count, found.*
FROM ({spans}) found JOIN kept ON found.row_id = kept.row_id
"""

_ID_COLUMNS = "s.trace_id, s.span_id, s.start_time_ns"


def _span_limit(max_spans: int | None) -> int:
    """``max_spans`` as a SQL parameter (no limit is more rows than a table can hold)."""
    check_span_limit(max_spans)
    return 2**62 if max_spans is None else max_spans


def _whole_rows(
    cur: duckdb.DuckDBPyConnection, bounds: list[tuple[int, int, int]], limit: int
) -> list[tuple[Any, ...]]:
    """Rows (``row_id`` and ``SPAN_COLUMNS``) of the traces in ``bounds`` that have at
    most ``limit`` rows, in storage order."""
    spans_sql, params = _spans_near(bounds, SPAN_COLUMNS)
    if len(bounds) == 1:
        rows = cur.execute(_WHOLE_TRACE.format(spans=spans_sql), [*params, limit + 1]).fetchall()
        if len(rows) > limit:
            return []
    else:
        rows = cur.execute(_WHOLE_TRACES.format(spans=spans_sql), [*params, limit]).fetchall()
    rows.sort(key=itemgetter(0))
    return rows


def _first_rows(
    cur: duckdb.DuckDBPyConnection, bounds: list[tuple[int, int, int]], limit: int
) -> list[tuple[Any, ...]]:
    """Rows (span count, ``row_id`` and ``SPAN_COLUMNS``) of the first ``limit`` spans of
    each trace in ``bounds``, each span id once."""
    ids_sql, id_params = _spans_near(bounds, _ID_COLUMNS)
    spans_sql, params = _spans_near(bounds, SPAN_COLUMNS)
    sql = _FIRST_SPANS.format(ids=ids_sql, spans=spans_sql)
    return cur.execute(sql, [*id_params, limit, *params]).fetchall()


def _traces(
    cur: duckdb.DuckDBPyConnection,
    trace_ids: list[str],
    references: ReferenceRows,
    limit: int,
) -> list[Trace]:
    """The stored traces of ``trace_ids``, in that order (ids that are stored only), each
    cut to its first ``limit`` spans.

    First ``traces`` says when each trace's spans start. Traces within the limit are
    then read whole in one query; the others, if any, by a second query that ranks
    their spans in DuckDB and brings only the first ``limit`` of each to Python.
    """
    if not trace_ids:
        return []
    bounds = trace_bounds(cur, trace_ids)
    if not bounds:
        return []
    whole = _whole_rows(cur, bounds, limit)
    read_whole = {row[1] for row in whole}
    over = [bound for bound in bounds if bound[2] not in read_whole]
    first = _first_rows(cur, over, limit) if over else []
    decoder = references.decoder(cur, chain((row[1:] for row in whole), (row[2:] for row in first)))
    spans: dict[str, dict[str, Span]] = {}
    # In storage order, so that a span id stored twice (see writer) shows the first.
    for row in whole:
        span = decoder.span(row[1:])
        spans.setdefault(span.trace_id, {}).setdefault(span.span_id, span)
    span_counts: dict[str, int] = {}
    for row in first:
        span = decoder.span(row[2:])
        spans.setdefault(span.trace_id, {})[span.span_id] = span
        span_counts[span.trace_id] = row[0]
    traces = []
    for trace_id in trace_ids:
        if trace_id in spans:
            kept = spans[trace_id]
            omitted = span_counts.get(trace_id, len(kept)) - len(kept)
            traces.append(Trace(trace_id, tuple(sorted(kept.values(), key=_span_order)), omitted))
    return traces


def _span_order(span: Span) -> tuple[int, str]:
    return span.start_time_unix_nano, span.span_id


def get_trace(
    cur: duckdb.DuckDBPyConnection,
    trace_id: str,
    references: ReferenceRows,
    max_spans: int | None = None,
) -> Trace | None:
    limit = _span_limit(max_spans)
    if not is_valid_trace_id(trace_id):
        return None  # nothing with such an id can have been stored
    found = _traces(cur, [trace_id], references, limit)
    return found[0] if found else None


def _matches_in(
    cur: duckdb.DuckDBPyConnection,
    found: SpanFilter,
    start_min: int | None,
    start_max: int | None,
    limit: int,
) -> list[str]:
    """Matching trace ids by their newest matching span that starts inside the window."""
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
    condition = span_filter(query, cur)  # once: every window reads the same snapshot
    found: list[str] = []
    seen: set[str] = set()
    for start_min, start_max in search_windows(
        query.start_time_min_ns, query.start_time_max_ns, stored, lambda: len(found), query.limit
    ):
        limit = query.limit + len(found)
        for trace_id in _matches_in(cur, condition, start_min, start_max, limit):
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
    max_spans: int | None = None,
) -> list[Trace]:
    limit = _span_limit(max_spans)
    return _traces(cur, find_trace_ids(cur, query, stored), references, limit)
