"""The read side of the DuckDB store: each function runs on a cursor the caller owns."""

from __future__ import annotations

from itertools import groupby

import duckdb

from traceway.model import SpanKind, StatusCode, Trace, is_valid_trace_id
from traceway.storage.api import DependencyLink, Operation, OperationQuery, TraceQuery
from traceway.storage.duckdb.rows import SPAN_COLUMNS, SPAN_TABLES, SpanDecoder
from traceway.storage.duckdb.search import span_filter

__all__ = [
    "find_trace_ids",
    "find_traces",
    "get_dependencies",
    "get_operations",
    "get_services",
    "get_trace",
]

# SQL below is assembled only from constants of this package; values are parameters.


def get_services(cur: duckdb.DuckDBPyConnection) -> list[str]:
    rows = cur.execute("SELECT DISTINCT service_name FROM spans ORDER BY service_name").fetchall()
    return [service for (service,) in rows]


def get_operations(cur: duckdb.DuckDBPyConnection, query: OperationQuery) -> list[Operation]:
    sql = "SELECT DISTINCT name, kind FROM spans WHERE service_name = ?"
    params: list[object] = [query.service_name]
    if query.span_kind is not None:
        sql += " AND kind = ?"
        params.append(int(query.span_kind))
    rows = cur.execute(sql + " ORDER BY name, kind", params).fetchall()
    return [Operation(name, SpanKind(kind)) for name, kind in rows]


def get_trace(cur: duckdb.DuckDBPyConnection, trace_id: str) -> Trace | None:
    if not is_valid_trace_id(trace_id):
        return None  # nothing with such an id can have been stored
    rows = cur.execute(
        f"SELECT {SPAN_COLUMNS} FROM {SPAN_TABLES} WHERE s.trace_id = ? "  # noqa: S608
        "ORDER BY s.start_time_ns, s.span_id",
        [bytes.fromhex(trace_id)],
    ).fetchall()
    if not rows:
        return None
    decoder = SpanDecoder()
    return Trace(trace_id, tuple(decoder.span(row) for row in rows))


def _matches_sql(query: TraceQuery) -> tuple[str, list[object]]:
    """Matching trace ids with their newest matching span start, in result order."""
    found = span_filter(query)
    resource_join = (
        "JOIN resources r ON r.resource_id = s.resource_id" if found.joins_resource else ""
    )
    sql = f"""
        SELECT s.trace_id, max(s.start_time_ns) AS newest
        FROM spans s {resource_join}
        WHERE {found.where}
        GROUP BY s.trace_id
        ORDER BY newest DESC, s.trace_id
        LIMIT ?
    """  # noqa: S608
    return sql, [*found.params, query.limit]


def find_trace_ids(cur: duckdb.DuckDBPyConnection, query: TraceQuery) -> list[str]:
    if query.limit <= 0:
        return []
    sql, params = _matches_sql(query)
    return [trace_id.hex() for trace_id, _ in cur.execute(sql, params).fetchall()]


def find_traces(cur: duckdb.DuckDBPyConnection, query: TraceQuery) -> list[Trace]:
    if query.limit <= 0:
        return []
    matches, params = _matches_sql(query)
    rows = cur.execute(
        f"""
        WITH matches AS ({matches})
        SELECT {SPAN_COLUMNS}
        FROM matches m JOIN {SPAN_TABLES} ON s.trace_id = m.trace_id
        ORDER BY m.newest DESC, m.trace_id, s.start_time_ns, s.span_id
        """,  # noqa: S608
        params,
    ).fetchall()
    decoder = SpanDecoder()
    spans = (decoder.span(row) for row in rows)
    return [
        Trace(trace_id, tuple(trace_spans))
        for trace_id, trace_spans in groupby(spans, key=lambda span: span.trace_id)
    ]


def get_dependencies(
    cur: duckdb.DuckDBPyConnection, start_time_ns: int, end_time_ns: int
) -> list[DependencyLink]:
    rows = cur.execute(
        """
        SELECT p.service_name, c.service_name, count(*), count(*) FILTER (c.status_code = ?)
        FROM spans c
        JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
        WHERE c.start_time_ns BETWEEN ? AND ?
          AND p.start_time_ns BETWEEN ? AND ?
          AND p.service_name <> c.service_name
        GROUP BY p.service_name, c.service_name
        ORDER BY p.service_name, c.service_name
        """,
        [int(StatusCode.ERROR), start_time_ns, end_time_ns, start_time_ns, end_time_ns],
    ).fetchall()
    return [DependencyLink(parent, child, calls, errors) for parent, child, calls, errors in rows]
