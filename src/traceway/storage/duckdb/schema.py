"""The tables of a traceway DuckDB file, created on first open and checked after.

One row per span in ``spans``, laid out for DuckDB's column compression: ids as
integers (a trace id is a ``UHUGEINT``, compressed to a few bytes per span because
each batch is stored sorted by trace id), service and span names as plain strings
(dictionary-compressed), times as integer nanoseconds, attribute maps as lists of
text entries (``storage.attribute_entries``), events and links as typed JSON.
Resources and instrumentation scopes, repeated by nearly every span, live once
each in ``resources`` and ``scopes`` under small ids; ``operations`` holds every
(service, span name, kind) that has spans, so listing them reads a tiny table;
``traces`` says when each trace's spans start, so a trace is found without reading
every span.

There is no primary key: an index on the ids would cost more than the rest of a
span on disk and most of the insert time. The writer keeps writes idempotent.
"""

from __future__ import annotations

import duckdb

from traceway.storage.api import StorageError
from traceway.storage.duckdb.transaction import transaction

__all__ = ["SCHEMA_VERSION", "ensure_schema"]

SCHEMA_VERSION = 2

_META = "CREATE TABLE IF NOT EXISTS traceway_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)"
_TABLES = """
CREATE TABLE resources (
    resource_id UINTEGER NOT NULL,    -- small, assigned by the writer in order
    content_key BIGINT NOT NULL,      -- span_batch.content_key of the resource
    service_name VARCHAR NOT NULL,
    attributes VARCHAR[],
    attributes_extra VARCHAR,
    dropped_attributes_count UINTEGER NOT NULL,
    schema_url VARCHAR NOT NULL
);
CREATE TABLE scopes (
    scope_id UINTEGER NOT NULL,
    content_key BIGINT NOT NULL,
    name VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    attributes VARCHAR[],
    attributes_extra VARCHAR,
    dropped_attributes_count UINTEGER NOT NULL,
    schema_url VARCHAR NOT NULL
);
CREATE TABLE traces (
    trace_id UHUGEINT NOT NULL,       -- one row per trace per written batch:
    start_min_ns BIGINT NOT NULL,     -- where in time that batch's spans of the trace are,
    start_max_ns BIGINT NOT NULL      -- so reading a trace scans one row in eight, then
);                                    -- only the row groups of spans around that time
CREATE TABLE operations (
    service_name VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    kind UTINYINT NOT NULL
);
CREATE TABLE spans (
    trace_id UHUGEINT NOT NULL,
    span_id UBIGINT NOT NULL,
    parent_span_id UBIGINT,           -- NULL for a root span
    service_name VARCHAR NOT NULL,    -- the resource's service.name, for search
    name VARCHAR NOT NULL,
    kind UTINYINT NOT NULL,
    start_time_ns BIGINT NOT NULL,
    duration_ns BIGINT NOT NULL,      -- end minus start as sent, so negative is possible
    status_code UTINYINT NOT NULL,
    status_message VARCHAR NOT NULL,
    resource_id UINTEGER NOT NULL,
    scope_id UINTEGER NOT NULL,
    attributes VARCHAR[],             -- attribute_entries; NULL when there are none
    attributes_extra VARCHAR,         -- typed JSON of list and dict values, else NULL
    events VARCHAR,
    links VARCHAR,
    trace_state VARCHAR NOT NULL,
    flags UINTEGER NOT NULL,
    dropped_attributes_count UINTEGER NOT NULL,
    dropped_events_count UINTEGER NOT NULL,
    dropped_links_count UINTEGER NOT NULL
);
"""


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables in a new file; refuse a file of another schema version."""
    with transaction(con):
        con.execute(_META)
        # fetchall: DuckDB refuses the next statement while a result is partly fetched.
        rows = con.execute(
            "SELECT value FROM traceway_meta WHERE key = 'schema_version'"
        ).fetchall()
        found = rows[0][0] if rows else None
        if found is None:
            con.execute(_TABLES)
            con.execute(
                "INSERT INTO traceway_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
            )
        elif found != str(SCHEMA_VERSION):
            raise StorageError(
                f"the trace store has schema version {found}, this traceway reads version "
                f"{SCHEMA_VERSION}; use a new file or the matching traceway version"
            )
