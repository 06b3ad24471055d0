"""Aggregates over a time window of spans: service dependencies and per-operation
latency statistics. Each function runs on a cursor the caller owns.

Dependencies take a child's parent resource from ``parent_resource_id`` where the
writer could store it (the parent came in the same batch): a scan, no join. Only
the other children are joined with their parents: those whose parent came in
another batch, and those of the few traces that cross an edge of the window.
"""

from __future__ import annotations

import duckdb

from traceway.model import SpanKind, StatusCode
from traceway.storage.api import DependencyLink, OperationStats, StatsQuery
from traceway.storage.duckdb.trace_lookup import TRACE_KEY

__all__ = ["get_dependencies", "get_operation_stats"]

# SQL below is assembled only from constants of this module; values are parameters.

_SPANS_PER_PASS = 2_500_000
"""The join of the children whose parent came in another batch takes at most about this
many of them at once, so its hash table stays far below the store's memory limit."""

# The keys of the traces that have spans on both sides of an edge of the window, from
# the batch time ranges in ``traces`` (``trace_lookup``). For every other trace, a span
# in the window has its whole batch in the window, so its parent too when the parent
# came in that batch.
_EDGE_TRACES = """
CREATE OR REPLACE TEMP TABLE edge_traces AS
SELECT DISTINCT trace_key FROM traces
WHERE (start_min_ns < $start AND start_max_ns >= $start)
   OR (start_min_ns <= $end AND start_max_ns > $end)
"""
# Children whose parent's resource came with them (most), outside edge traces.
_DIRECT_CALLS = f"""
SELECT parent_resource_id AS parent, resource_id AS child, status_code,
       greatest(duration_ns, 0) AS duration_ns
FROM spans
WHERE start_time_ns BETWEEN $start AND $end
  AND parent_resource_id <> 0 AND parent_resource_id <> resource_id
  AND {TRACE_KEY} NOT IN (SELECT trace_key FROM edge_traces)
"""  # noqa: S608
# The other children: their parent is looked up by a join, exact about the window.
_JOINED_CHILDREN = f"""
FROM spans
WHERE start_time_ns BETWEEN $start AND $end AND parent_span_id <> 0
  AND (parent_resource_id = 0 OR {TRACE_KEY} IN (SELECT trace_key FROM edge_traces))
"""  # noqa: S608
_JOINED_CALLS = """
CREATE OR REPLACE TEMP TABLE joined_calls (
    parent UINTEGER, child UINTEGER, status_code UTINYINT, duration_ns BIGINT
)
"""
# One pass: those of them whose parent span id falls in the pass's share of ids,
# joined with those parents (same trace).
_INSERT_JOINED_CALLS = f"""
INSERT INTO joined_calls
SELECT p.resource_id, c.resource_id, c.status_code, greatest(c.duration_ns, 0)
FROM (
    SELECT trace_id, parent_span_id, resource_id, status_code, duration_ns
    {_JOINED_CHILDREN} AND (parent_span_id & $mask) = $share
) c
JOIN (
    SELECT trace_id, span_id, resource_id FROM spans
    WHERE start_time_ns BETWEEN $start AND $end AND (span_id & $mask) = $share
) p ON p.span_id = c.parent_span_id AND p.trace_id = c.trace_id
WHERE p.resource_id <> c.resource_id
"""  # noqa: S608
_DEPENDENCIES = f"""
SELECT pr.service_name, cr.service_name, count(*), count(*) FILTER (calls.status_code = $error),
       quantile_disc(calls.duration_ns, 0.95)
FROM ({_DIRECT_CALLS} UNION ALL SELECT * FROM joined_calls) calls
JOIN resources pr ON pr.resource_id = calls.parent
JOIN resources cr ON cr.resource_id = calls.child
WHERE pr.service_name <> cr.service_name
GROUP BY pr.service_name, cr.service_name
ORDER BY pr.service_name, cr.service_name
"""  # noqa: S608


def get_dependencies(
    cur: duckdb.DuckDBPyConnection, start_time_ns: int, end_time_ns: int
) -> list[DependencyLink]:
    """Parent-child pairs across services: from the parent's resource stored with the
    child where it can be, else by a join, in passes over shares of the span ids.

    The caller runs it in one transaction, so all its statements see the same spans.
    """
    window = {"start": start_time_ns, "end": end_time_ns}
    cur.execute(_EDGE_TRACES, window)
    ((joined,),) = cur.execute(f"SELECT count(*) {_JOINED_CHILDREN}", window).fetchall()
    passes = 1
    while passes * _SPANS_PER_PASS < joined and passes < 64:
        passes *= 2
    cur.execute(_JOINED_CALLS)
    for share in range(passes if joined else 0):
        cur.execute(_INSERT_JOINED_CALLS, {**window, "mask": passes - 1, "share": share})
    rows = cur.execute(_DEPENDENCIES, {**window, "error": int(StatusCode.ERROR)}).fetchall()
    cur.execute("DROP TABLE joined_calls")
    cur.execute("DROP TABLE edge_traces")
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
