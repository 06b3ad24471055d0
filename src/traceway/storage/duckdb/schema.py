"""The tables of a traceway DuckDB file, created on first open and checked after.

One row per span in ``spans``; resources and instrumentation scopes, repeated by
nearly every span, live once each in ``resources`` and ``scopes`` under a content
hash. Ids are BLOBs (16 and 8 bytes), times integer nanoseconds. Attribute maps,
events and links are typed JSON (see ``encoding``); ``tag_text`` columns hold the
text a tag search looks at. The primary key makes writes idempotent.
"""

from __future__ import annotations

import duckdb

from traceway.storage.api import StorageError
from traceway.storage.duckdb.transaction import transaction

__all__ = ["SCHEMA_VERSION", "ensure_schema"]

SCHEMA_VERSION = 1

_TABLES = """
CREATE TABLE IF NOT EXISTS traceway_meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS resources (
    resource_id BIGINT PRIMARY KEY,
    attributes VARCHAR,
    dropped_attributes_count UINTEGER NOT NULL,
    schema_url VARCHAR NOT NULL,
    tag_text VARCHAR
);
CREATE TABLE IF NOT EXISTS scopes (
    scope_id BIGINT PRIMARY KEY,
    name VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    attributes VARCHAR,
    dropped_attributes_count UINTEGER NOT NULL,
    schema_url VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS spans (
    trace_id BLOB NOT NULL,
    span_id BLOB NOT NULL,
    parent_span_id BLOB,              -- NULL for a root span
    service_name VARCHAR NOT NULL,    -- the resource's service.name, for search
    name VARCHAR NOT NULL,
    kind UTINYINT NOT NULL,
    start_time_ns BIGINT NOT NULL,
    duration_ns BIGINT NOT NULL,      -- end minus start as sent, so negative is possible
    status_code UTINYINT NOT NULL,
    status_message VARCHAR NOT NULL,
    resource_id BIGINT NOT NULL,
    scope_id BIGINT NOT NULL,
    attributes VARCHAR,
    tag_text VARCHAR,
    events VARCHAR,
    links VARCHAR,
    trace_state VARCHAR NOT NULL,
    flags UINTEGER NOT NULL,
    dropped_attributes_count UINTEGER NOT NULL,
    dropped_events_count UINTEGER NOT NULL,
    dropped_links_count UINTEGER NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
"""


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables in a new file; refuse a file of another schema version."""
    with transaction(con):
        con.execute(_TABLES)
        con.execute(
            "INSERT OR IGNORE INTO traceway_meta VALUES ('schema_version', ?)",
            [str(SCHEMA_VERSION)],
        )
        row = con.execute("SELECT value FROM traceway_meta WHERE key = 'schema_version'").fetchone()
    found = row[0] if row else None
    if found != str(SCHEMA_VERSION):
        raise StorageError(
            f"the trace store has schema version {found}, this traceway reads version "
            f"{SCHEMA_VERSION}; use a new file or the matching traceway version"
        )
