"""Aggregates over a time window of spans: service dependencies and per-operation
latency statistics. Each function runs on a cursor the caller owns."""

from __future__ import annotations

import duckdb

from traceway.model import SpanKind, StatusCode
from traceway.storage.api import DependencyLink, OperationStats, StatsQuery
from traceway.storage.duckdb.transaction import transaction

__all__ = ["get_dependencies", "get_operation_stats"]

# SQL below is assembled only from constants of this module; values are parameters.

_SPANS_PER_PASS = 2_500_000
"""Dependencies join at most about this many spans at once, so the join's hash table
stays far below the store's memory limit (one pass over 10 M spans needs 1 GB+)."""

_CALLS_TABLE = """
CREATE OR REPLACE TEMP TABLE calls (
    parent UINTEGER, child UINTEGER, status_code UTINYINT, duration_ns BIGINT
)
"""
# One pass: the children whose parent span id falls in the pass's share of ids, joined
# with those parents (same trace). Spans of one resource share a service: skipped here.
_INSERT_CALLS = """
INSERT INTO calls
SELECT p.resource_id, c.resource_id, c.status_code, greatest(c.duration_ns, 0)
FROM (
    SELECT trace_id, parent_span_id, resource_id, status_code, duration_ns FROM spans
    WHERE start_time_ns BETWEEN $1 AND $2 AND (parent_span_id & $3) = $4
) c
JOIN (
    SELECT trace_id, span_id, resource_id FROM spans
    WHERE start_time_ns BETWEEN $1 AND $2 AND (span_id & $3) = $4
) p ON p.span_id = c.parent_span_id AND p.trace_id = c.trace_id
WHERE p.resource_id <> c.resource_id
"""
_DEPENDENCIES = """
SELECT pr.service_name, cr.service_name, count(*), count(*) FILTER (calls.status_code = ?),
       quantile_disc(calls.duration_ns, 0.95)
FROM calls
JOIN resources pr ON pr.resource_id = calls.parent
JOIN resources cr ON cr.resource_id = calls.child
WHERE pr.service_name <> cr.service_name
GROUP BY pr.service_name, cr.service_name
ORDER BY pr.service_name, cr.service_name
"""


def get_dependencies(
    cur: duckdb.DuckDBPyConnection, start_time_ns: int, end_time_ns: int
) -> list[DependencyLink]:
    """Parent-child pairs across services, joined in passes over shares of the span ids.

    All passes run in one transaction, so they see the same stored spans.
    """
    window = [start_time_ns, end_time_ns]
    with transaction(cur):
        ((spans,),) = cur.execute(
            "SELECT count(*) FROM spans WHERE start_time_ns BETWEEN ? AND ?", window
        ).fetchall()
        passes = 1
        while passes * _SPANS_PER_PASS < spans and passes < 64:
            passes *= 2
        cur.execute(_CALLS_TABLE)
        for share in range(passes):
            cur.execute(_INSERT_CALLS, [*window, passes - 1, share])
        rows = cur.execute(_DEPENDENCIES, [int(StatusCode.ERROR)]).fetchall()
        cur.execute("DROP TABLE calls")
    return [DependencyLink(*row) for row in rows]


def get_operation_stats(cur: duckdb.DuckDBPyConnection, query: StatsQuery) -> list[OperationStats]:
    sql = """
        SELECT service_name, name, kind, count(*), count(*) FILTER (status_code = ?),
               quantile_disc(greatest(duration_ns, 0), [0.5, 0.95, 0.99])
        FROM spans
        WHERE start_time_ns BETWEEN ? AND ?
    """
    params: list[object] = [int(StatusCode.ERROR), query.start_time_ns, query.end_time_ns]
    if query.service_name is not None:
        sql += " AND service_name = ?"
        params.append(query.service_name)
    sql += " GROUP BY service_name, name, kind ORDER BY service_name, name, kind"
    return [
        OperationStats(service, name, SpanKind(kind), count, errors, p50, p95, p99)
        for service, name, kind, count, errors, (p50, p95, p99) in cur.execute(
            sql, params
        ).fetchall()
    ]
