"""The tables of a traceway DuckDB file, created on first open and checked after.

One row per span in ``spans``, laid out for DuckDB's column compression (about 47
bytes per span for ``bench/query.py``'s spans) and for small commits (no list column
that nearly every span fills: DuckDB logs those again at each commit, see
``attribute_columns``; most spans have no event offsets): ids as integers (a trace id is a
``UHUGEINT``, compressed to a few bytes per span because each batch is stored trace
by trace, traces in order of their first start, which also keeps neighbouring start
times close), service and span names as plain strings (dictionary-compressed), times
as integer nanoseconds, links as typed JSON, events as typed JSON without their
times, kept as offsets from the span's start (``event_columns``).

A span's attribute entries (``storage.attribute_entries``) are split in two by how
varied their key's values are in the written batch (``attribute_columns``): entries
of keys whose values repeat (``http.route``, ``db.system``, ...) are joined into one
text that spans of one kind share, stored once in ``attribute_sets`` and named by the
span's ``attribute_set_id``; the others (ids, addresses, ports) are a text of the
span's own, ``attributes_varying``, but for entries holding an RS (``attributes_with_rs``).

``parent_resource_id`` is the parent's resource when the parent came in the same
batch (most do): dependencies need no join for those spans (``aggregates``).

Resources, instrumentation scopes and attribute sets, repeated by nearly every
span, live once each in ``resources``, ``scopes`` and ``attribute_sets`` under small
ids (an attribute set may be stored twice under two ids: the writer remembers a
bounded number of them); ``operations`` holds every
(service, span name, kind) that has spans, so listing them reads a tiny table;
``attribute_types`` every value type each span attribute key was written with, so
that a tag search looks only for those (never pruned: a stale row costs a search
one needless comparison); ``traces`` says when each trace's spans start, one row
per trace per batch under a 32-bit key of the trace id (``trace_lookup``), so a
trace is found without reading every span.

Where most spans have nothing, a column holds 0 or an empty value rather than NULL
when that is unambiguous: a column without NULLs needs no validity mask on disk.

There is no primary key: an index on the ids would cost more than the rest of a
span on disk and most of the insert time. The writer keeps writes idempotent.

A file of an older version that ``MIGRATIONS`` knows is brought to this version
when opened, in one transaction (all or nothing); any other version is refused.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from traceway.storage.api import StorageError
from traceway.storage.duckdb.transaction import transaction

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "ensure_schema", "stored_schema_version"]

SCHEMA_VERSION = 5

_META = "CREATE TABLE IF NOT EXISTS traceway_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)"
_ATTRIBUTE_SETS = """
CREATE TABLE attribute_sets (
    set_id UINTEGER NOT NULL,         -- small, assigned by the writer in order; never 0
    entries VARCHAR NOT NULL          -- RS entry RS entry ... RS (attribute_columns)
);
"""
_TABLES = f"""{_ATTRIBUTE_SETS}
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
    trace_key UINTEGER NOT NULL,      -- one row per trace per written batch (trace_lookup):
    start_min_ns BIGINT NOT NULL,     -- where in time that batch's spans of the trace are,
    start_max_ns BIGINT NOT NULL      -- so reading a trace scans one row in eight, then
);                                    -- only the row groups of spans around that time;
                                      -- dependencies and deletion read it too
CREATE TABLE operations (
    service_name VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    kind UTINYINT NOT NULL
);
CREATE TABLE attribute_types (        -- every (key, type letter) of span entries written
    key VARCHAR NOT NULL,             -- as in an entry (escaped)
    type VARCHAR NOT NULL
);
CREATE TABLE spans (
    trace_id UHUGEINT NOT NULL,
    span_id UBIGINT NOT NULL,
    parent_span_id UBIGINT NOT NULL,  -- 0 (no valid span id) for a root span
    parent_resource_id UINTEGER NOT NULL, -- the parent's if written in the same batch, else 0
    service_name VARCHAR NOT NULL,    -- the resource's service.name, for search
    name VARCHAR NOT NULL,
    kind UTINYINT NOT NULL,
    start_time_ns BIGINT NOT NULL,
    duration_ns BIGINT NOT NULL,      -- end minus start as sent, so negative is possible
    status_code UTINYINT NOT NULL,
    status_message VARCHAR NOT NULL,
    resource_id UINTEGER NOT NULL,
    scope_id UINTEGER NOT NULL,
    attribute_set_id UINTEGER NOT NULL,  -- the attribute_sets row of the common entries, or 0
    attributes_varying VARCHAR NOT NULL, -- the others but those holding an RS: RS e RS ... RS
    attributes_with_rs VARCHAR[],     -- those, or NULL for none
    attributes_extra VARCHAR,         -- typed JSON of list and dict values, else NULL
    events VARCHAR,                   -- see event_columns: without their times ...
    event_offsets_ns BIGINT[],        -- ... which are these offsets from the start
    links VARCHAR,
    trace_state VARCHAR NOT NULL,
    flags UINTEGER NOT NULL,
    dropped_attributes_count UINTEGER NOT NULL,
    dropped_events_count UINTEGER NOT NULL,
    dropped_links_count UINTEGER NOT NULL
);
"""

_FROM_3 = f"""{_ATTRIBUTE_SETS}
INSERT INTO attribute_sets
SELECT (row_number() OVER (ORDER BY entries))::UINTEGER, entries
FROM (SELECT DISTINCT attributes_common AS entries FROM spans WHERE attributes_common <> '');
-- NOT NULL before the UPDATE: DuckDB refuses it after one in the same transaction.
ALTER TABLE spans ADD COLUMN attribute_set_id UINTEGER DEFAULT 0;
ALTER TABLE spans ALTER COLUMN attribute_set_id SET NOT NULL;
UPDATE spans SET attribute_set_id = a.set_id
FROM attribute_sets a WHERE spans.attributes_common = a.entries;
ALTER TABLE spans DROP COLUMN attributes_common;
UPDATE traceway_meta SET value = '4' WHERE key = 'schema_version';
"""  # noqa: S608 (constants)
"""Version 3 kept each span's common attribute entries as a text in its row."""

_VARYING = "list_filter(varying, lambda e: NOT contains(e, chr(30)))"
_FROM_4 = f"""
ALTER TABLE spans RENAME COLUMN attributes_varying TO varying;
ALTER TABLE spans ADD COLUMN attributes_varying VARCHAR DEFAULT '';
ALTER TABLE spans ALTER COLUMN attributes_varying SET NOT NULL;
ALTER TABLE spans ADD COLUMN attributes_with_rs VARCHAR[];
UPDATE spans SET
    attributes_varying = CASE WHEN len({_VARYING}) > 0
        THEN chr(30) || array_to_string({_VARYING}, chr(30)) || chr(30) ELSE '' END,
    attributes_with_rs = nullif(list_filter(varying, lambda e: contains(e, chr(30))), []);
ALTER TABLE spans DROP COLUMN varying;
UPDATE traceway_meta SET value = '5' WHERE key = 'schema_version';
"""  # noqa: S608 (constants)
"""Version 4 kept a span's varying attribute entries as a list."""

MIGRATIONS = {"3": _FROM_3, "4": _FROM_4}
"""SQL that brings a file of each older version to the next (which it records)."""


def _version(con: duckdb.DuckDBPyConnection) -> str | None:
    # fetchall: DuckDB refuses the next statement while a result is partly fetched.
    rows = con.execute("SELECT value FROM traceway_meta WHERE key = 'schema_version'").fetchall()
    return str(rows[0][0]) if rows else None


def stored_schema_version(path: Path) -> str | None:
    """The schema version of the traceway file at ``path``; None if there is no file or
    it holds no traceway tables. ``StorageError`` if it cannot be opened to look."""
    if not path.exists():
        return None
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            tables = {
                name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            }
            return _version(con) if "traceway_meta" in tables else None
    except duckdb.Error as error:
        raise StorageError(f"cannot read the schema version of {path}: {error}") from error


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables in a new file; migrate a file of an older version that
    ``MIGRATIONS`` knows; refuse a file of any other version."""
    with transaction(con):
        con.execute(_META)
        found = _version(con)
        while found in MIGRATIONS:
            con.execute(MIGRATIONS[found])
            found = _version(con)
        if found is None:
            con.execute(_TABLES)
            con.execute(
                "INSERT INTO traceway_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
            )
        elif found != str(SCHEMA_VERSION):
            raise StorageError(
                f"it has schema version {found} and this traceway reads version "
                f"{SCHEMA_VERSION}; move the file away (or use another data directory), "
                "or run the traceway version that wrote it"
            )
