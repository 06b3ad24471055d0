"""Deleting whole traces older than a cutoff, with the lookup rows only they used.

A trace goes when its last span starts before the cutoff, so a trace is never cut
in half. ``traces`` says which traces those are without reading ``spans``: by trace
key (``trace_lookup``), so a trace sharing its key with a newer one stays until that
one goes too: in a store of N traces, about N / 2**32 of them (1 in 600 at 7 million). The span
delete also filters on the start time, which lets DuckDB skip the row groups of
newer spans. Operations, resources, scopes and attribute sets are dropped only when
no span is left that uses them, and only those the deleted spans used are looked at.
"""

from __future__ import annotations

import duckdb

from traceway.storage.duckdb.trace_lookup import TRACE_KEY
from traceway.storage.duckdb.transaction import transaction

__all__ = ["delete_traces_before", "oldest_start_ns", "storage_bytes"]

_EXPIRED = """
CREATE OR REPLACE TEMP TABLE expired AS
SELECT trace_key FROM traces GROUP BY trace_key HAVING max(start_max_ns) < ?
"""
_EXPIRED_USES = f"""
CREATE OR REPLACE TEMP TABLE expired_uses AS
SELECT DISTINCT service_name, name, kind, resource_id, scope_id, attribute_set_id FROM spans
WHERE start_time_ns < ? AND {TRACE_KEY} IN (SELECT trace_key FROM expired)
"""  # noqa: S608
_DELETE_SPANS = f"""
DELETE FROM spans
WHERE start_time_ns < ? AND {TRACE_KEY} IN (SELECT trace_key FROM expired)
"""  # noqa: S608
_DELETE_TRACES = "DELETE FROM traces WHERE trace_key IN (SELECT trace_key FROM expired)"
_DELETE_OPERATIONS = """
DELETE FROM operations o
WHERE EXISTS (
    SELECT 1 FROM expired_uses u
    WHERE u.service_name = o.service_name AND u.name = o.name AND u.kind = o.kind
)
AND NOT EXISTS (
    SELECT 1 FROM spans s
    WHERE s.service_name = o.service_name AND s.name = o.name AND s.kind = o.kind
)
"""
_DELETE_RESOURCES = """
DELETE FROM resources r
WHERE resource_id IN (SELECT resource_id FROM expired_uses)
  AND NOT EXISTS (SELECT 1 FROM spans s WHERE s.resource_id = r.resource_id)
"""
_DELETE_SCOPES = """
DELETE FROM scopes c
WHERE scope_id IN (SELECT scope_id FROM expired_uses)
  AND NOT EXISTS (SELECT 1 FROM spans s WHERE s.scope_id = c.scope_id)
"""

_DELETE_ATTRIBUTE_SETS = """
DELETE FROM attribute_sets a
WHERE set_id IN (SELECT attribute_set_id FROM expired_uses)
  AND NOT EXISTS (SELECT 1 FROM spans s WHERE s.attribute_set_id = a.set_id)
"""


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> int:
    row = con.execute(sql, params).fetchone()
    return int(row[0]) if row is not None else 0


def delete_traces_before(con: duckdb.DuckDBPyConnection, cutoff_ns: int) -> int:
    """Delete, in one transaction, every trace whose last span starts before ``cutoff_ns``;
    return how many spans went. The caller holds the writer lock."""
    with transaction(con):
        con.execute(_EXPIRED, [cutoff_ns])
        con.execute(_EXPIRED_USES, [cutoff_ns])
        deleted = _count(con, _DELETE_SPANS, [cutoff_ns])
        con.execute(_DELETE_TRACES)
        if deleted:
            con.execute(_DELETE_OPERATIONS)
            con.execute(_DELETE_RESOURCES)
            con.execute(_DELETE_SCOPES)
            con.execute(_DELETE_ATTRIBUTE_SETS)
    con.execute("DROP TABLE IF EXISTS expired")
    con.execute("DROP TABLE IF EXISTS expired_uses")
    return deleted


def storage_bytes(con: duckdb.DuckDBPyConnection, wal_bytes: int) -> int:
    """Bytes in use: the used blocks of the file plus the write-ahead log.

    Deleted rows free their blocks at the next checkpoint, but the file shrinks only
    when the free blocks are at its end; otherwise they are reused by later writes.
    Used blocks are what retention can bring down, so they are what it measures.
    """
    row = con.execute(
        "SELECT block_size, used_blocks FROM pragma_database_size() "
        "WHERE database_name = current_database()"
    ).fetchone()
    if row is None:
        return wal_bytes
    block_size, used_blocks = row
    return int(block_size or 0) * int(used_blocks or 0) + wal_bytes


def oldest_start_ns(con: duckdb.DuckDBPyConnection) -> int | None:
    """The earliest start time of a stored span, read from ``traces``."""
    row = con.execute("SELECT min(start_min_ns) FROM traces").fetchone()
    return None if row is None or row[0] is None else int(row[0])
