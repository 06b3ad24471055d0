"""Writing a batch of spans: one transaction, the batch's Arrow table inserted by SQL.

The table's attribute entries are first split in two with Arrow kernels
(``attribute_columns``); events are split in SQL (``event_columns``). ``schema``
explains the layout.

Idempotence without a primary key: a span is left out when a span with its trace id,
span id and start time is stored, or when its (trace id, span id) came earlier in
the same batch. Matching the start time too lets the anti-join read only the row
groups whose start times overlap the batch's (DuckDB keeps each row group's min and
max), so its cost follows the batch, not the size of the store: a re-sent span has
the start time it had, however late it comes again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from traceway.model import InstrumentationScope, Resource
from traceway.storage.attribute_entries import encode_entries
from traceway.storage.duckdb.attribute_columns import SplitEntries, split_entries
from traceway.storage.duckdb.event_columns import EVENT_COLUMNS, EVENT_OFFSETS
from traceway.storage.duckdb.trace_lookup import TRACE_KEY
from traceway.storage.duckdb.transaction import transaction
from traceway.storage.span_batch import SpanBatch

__all__ = ["SpanWriter", "WriteResult"]

_MAX_TIME_NS = 2**63 - 1  # OTLP allows 2**64 - 1; nanoseconds reach 2**63 in the year 2262

# Staging names are views or temporary tables of the writer connection only. The
# Arrow batch is copied into ``staged`` first: reading Arrow from Python takes the GIL,
# which the decoding threads hold most of the time, so it is read once. ``keep`` holds
# the ids, resource (and batch positions) of the spans to store.
_STAGE = "CREATE OR REPLACE TEMP TABLE staged AS SELECT * FROM arrow_batch"
_KEEP = """
CREATE OR REPLACE TEMP TABLE keep AS
SELECT seq, trace_id, span_id, parent_span_id, start_time_ns, resource_id
FROM (
    SELECT s.seq,
           ('0x' || hex(s.trace_id))::UHUGEINT AS trace_id,
           ('0x' || hex(s.span_id))::UBIGINT AS span_id,
           coalesce(('0x' || hex(s.parent_span_id))::UBIGINT, 0) AS parent_span_id,
           s.start_time_unix_nano::BIGINT AS start_time_ns,
           r.resource_id
    FROM staged s
    JOIN resources r ON r.content_key = s.resource_key
) batch
WHERE NOT EXISTS (
    SELECT 1 FROM spans t
    WHERE t.start_time_ns BETWEEN $low AND $high
      AND t.start_time_ns = batch.start_time_ns
      AND t.trace_id = batch.trace_id
      AND t.span_id = batch.span_id
)
QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY seq) = 1
"""
# The batch's traces: their rows of ``traces``, and the order spans are stored in.
_BATCH_TRACES = """
CREATE OR REPLACE TEMP TABLE batch_traces AS
SELECT trace_id, min(start_time_ns) AS start_min_ns, max(start_time_ns) AS start_max_ns
FROM keep GROUP BY trace_id
"""
# Trace by trace, traces in order of their first start: the trace id compresses to
# one run per trace, and start times stay close to their neighbours'. A parent in
# the batch (in ``keep``) gives its resource.
_INSERT_SPANS = f"""
INSERT INTO spans BY NAME
SELECT * EXCLUDE (trace_start_ns, offsets, event_items, events_as_sent), {EVENT_COLUMNS}
FROM (
    SELECT
        k.trace_id,
        k.span_id,
        k.parent_span_id,
        coalesce(p.resource_id, 0) AS parent_resource_id,
        r.service_name,
        s.name,
        s.kind,
        k.start_time_ns,
        s.end_time_unix_nano::BIGINT - k.start_time_ns AS duration_ns,
        s.status_code,
        s.status_message,
        k.resource_id,
        c.scope_id,
        s.attributes_common,
        s.attributes_varying,
        s.attributes_extra,
        {EVENT_OFFSETS},
        s.links,
        s.trace_state,
        s.flags,
        s.dropped_attributes_count,
        s.dropped_events_count,
        s.dropped_links_count,
        t.start_min_ns AS trace_start_ns
    FROM staged s
    JOIN keep k ON k.seq = s.seq
    JOIN batch_traces t ON t.trace_id = k.trace_id
    JOIN resources r ON r.resource_id = k.resource_id
    JOIN scopes c ON c.content_key = s.scope_key
    LEFT JOIN keep p ON p.trace_id = k.trace_id AND p.span_id = k.parent_span_id
)
ORDER BY trace_start_ns, trace_id, start_time_ns, span_id
"""  # noqa: S608
_INSERT_TRACES = f"""
INSERT INTO traces
SELECT {TRACE_KEY}, start_min_ns, start_max_ns FROM batch_traces ORDER BY start_min_ns, trace_id
"""  # noqa: S608
_STORED = """
SELECT r.service_name, s.name, s.kind, count(*),
       min(s.start_time_unix_nano)::BIGINT, max(s.start_time_unix_nano)::BIGINT
FROM staged s
JOIN keep k ON k.seq = s.seq
JOIN resources r ON r.content_key = s.resource_key
GROUP BY ALL
"""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """How many spans a write stored, and the range of their start times."""

    stored: int
    start_min_ns: int | None
    start_max_ns: int | None


def _check_times(batch: SpanBatch) -> None:
    """Refuse the batch, naming the first span, when a time does not fit a signed 64-bit int."""
    table = batch.table
    for name in ("start_time_unix_nano", "end_time_unix_nano"):
        column = table.column(name)
        if len(column) and pc.max(column).as_py() > _MAX_TIME_NS:
            too_late = pc.greater(column, pa.scalar(_MAX_TIME_NS, pa.uint64()))
            index = pc.index(too_late, True).as_py()
            row = table.slice(index, 1).to_pylist()[0]
            raise ValueError(
                f"span {row['span_id'].hex()!r} of trace {row['trace_id'].hex()!r}: invalid "
                f"{name} {row[name]}: not in 0..2**63-1"
            )


def _start_range(batch: SpanBatch) -> dict[str, int]:
    """The earliest and the latest start time in the batch (which ``_check_times`` passed)."""
    bounds = pc.min_max(batch.table.column("start_time_unix_nano")).as_py()
    return {"low": bounds["min"], "high": bounds["max"]}


def _staged_table(batch: SpanBatch, entries: SplitEntries) -> pa.Table:
    """The batch's table as ``staged`` holds it: attribute entries split in two
    (``attribute_columns``), each row numbered in ``seq``."""
    table = batch.table
    table = table.remove_column(table.schema.get_field_index("attributes"))
    table = table.append_column("attributes_common", entries.common)
    table = table.append_column("attributes_varying", entries.varying)
    return table.append_column("seq", pa.array(range(len(batch)), type=pa.int32()))


def _resource_row(resource_id: int, key: int, resource: Resource) -> tuple[object, ...]:
    entries, extra = encode_entries(resource.attributes)
    return (
        resource_id,
        key,
        resource.service_name,
        entries or None,
        extra,
        resource.dropped_attributes_count,
        resource.schema_url,
    )


def _scope_row(scope_id: int, key: int, scope: InstrumentationScope) -> tuple[object, ...]:
    entries, extra = encode_entries(scope.attributes)
    return (
        scope_id,
        key,
        scope.name,
        scope.version,
        entries or None,
        extra,
        scope.dropped_attributes_count,
        scope.schema_url,
    )


def _insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Sequence[object]]
) -> None:
    """Append ``rows`` (in the table's column order) to ``table`` in one statement.

    ``executemany`` costs about 0.4 ms a row, so a batch of 30,000 new span names
    would take seconds; one Arrow table of the rows takes milliseconds.
    """
    if not rows:
        return
    columns = {f"c{i}": pa.array(column) for i, column in enumerate(zip(*rows, strict=True))}
    con.register("new_rows", pa.table(columns))
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM new_rows")  # noqa: S608 (a constant)
    finally:
        con.unregister("new_rows")


class SpanWriter:
    """Inserts ``SpanBatch``es on one connection, one transaction each; one thread at a time.

    It remembers which resources, scopes, operations and attribute types are stored,
    so that a batch inserts only what is new of those; ``reload`` after anything else
    changed them.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._resource_ids: dict[int, int] = {}
        self._scope_ids: dict[int, int] = {}
        self._operations: set[tuple[str, str, int]] = set()
        self._attribute_types: set[tuple[str, str]] = set()
        # Ids only grow, also after deletions: readers cache rows by id (ReferenceRows).
        self._last_resource_id = 0
        self._last_scope_id = 0
        self.reload()

    def reload(self) -> None:
        """Read back which resources, scopes and operations are stored (after a deletion)."""
        con = self._con
        self._resource_ids = dict(
            con.execute("SELECT content_key, resource_id FROM resources").fetchall()
        )
        self._scope_ids = dict(con.execute("SELECT content_key, scope_id FROM scopes").fetchall())
        self._operations = set(
            con.execute("SELECT service_name, name, kind FROM operations").fetchall()
        )
        self._attribute_types = set(con.execute("SELECT key, type FROM attribute_types").fetchall())
        self._last_resource_id = max(self._last_resource_id, *self._resource_ids.values(), 0)
        self._last_scope_id = max(self._last_scope_id, *self._scope_ids.values(), 0)

    def write(self, batch: SpanBatch) -> WriteResult:
        """Store the batch's new spans; committed when this returns."""
        _check_times(batch)
        new_resources = {
            key: self._last_resource_id + number + 1
            for number, key in enumerate(k for k in batch.resources if k not in self._resource_ids)
        }
        new_scopes = {
            key: self._last_scope_id + number + 1
            for number, key in enumerate(k for k in batch.scopes if k not in self._scope_ids)
        }
        entries = split_entries(batch.table.column("attributes"))
        new_types = [pair for pair in entries.types if pair not in self._attribute_types]
        arrow_batch = _staged_table(batch, entries)
        con = self._con
        con.register("arrow_batch", arrow_batch)
        try:
            con.execute(_STAGE)
        finally:
            con.unregister("arrow_batch")
        with transaction(con):
            _insert_rows(
                con,
                "resources",
                [_resource_row(i, key, batch.resources[key]) for key, i in new_resources.items()],
            )
            _insert_rows(
                con,
                "scopes",
                [_scope_row(i, key, batch.scopes[key]) for key, i in new_scopes.items()],
            )
            _insert_rows(con, "attribute_types", new_types)
            con.execute(_KEEP, _start_range(batch))
            con.execute(_BATCH_TRACES)
            con.execute(_INSERT_SPANS)
            con.execute(_INSERT_TRACES)
            stored = con.execute(_STORED).fetchall()
            new_operations = [
                (service, name, kind)
                for service, name, kind, *_ in stored
                if (service, name, kind) not in self._operations
            ]
            _insert_rows(con, "operations", new_operations)
        # Only now that they are committed do the new rows count as stored.
        self._resource_ids.update(new_resources)
        self._scope_ids.update(new_scopes)
        self._last_resource_id += len(new_resources)
        self._last_scope_id += len(new_scopes)
        self._operations.update(new_operations)
        self._attribute_types.update(new_types)
        if not stored:
            return WriteResult(0, None, None)
        return WriteResult(
            stored=sum(row[3] for row in stored),
            start_min_ns=min(row[4] for row in stored),
            start_max_ns=max(row[5] for row in stored),
        )
