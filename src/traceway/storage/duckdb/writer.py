"""Writing a batch of spans: one transaction, the batch's Arrow table inserted by SQL.

Idempotence without a primary key: a span is left out when a span with its trace id,
span id and start time is stored, or when its (trace id, span id) came earlier in
the same batch. Matching the start time too lets the anti-join read only the row
groups whose start times overlap the batch's (DuckDB keeps each row group's min and
max), so its cost follows the batch, not the size of the store: a re-sent span has
the start time it had, however late it comes again.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from traceway.model import InstrumentationScope, Resource
from traceway.storage.attribute_entries import encode_entries
from traceway.storage.duckdb.transaction import transaction
from traceway.storage.span_batch import SpanBatch

__all__ = ["SpanWriter", "WriteResult"]

_MAX_TIME_NS = 2**63 - 1  # OTLP allows 2**64 - 1; nanoseconds reach 2**63 in the year 2262

# Staging names are views or temporary tables of the writer connection only. The
# Arrow batch is copied into ``staged`` first: reading Arrow from Python takes the GIL,
# which the decoding threads hold most of the time, so it is read once. ``keep`` holds
# the ids (and batch positions) of the spans to store.
_STAGE = "CREATE OR REPLACE TEMP TABLE staged AS SELECT * FROM arrow_batch"
_KEEP = """
CREATE OR REPLACE TEMP TABLE keep AS
SELECT seq, trace_id, span_id, start_time_ns
FROM (
    SELECT seq,
           ('0x' || hex(trace_id))::UHUGEINT AS trace_id,
           ('0x' || hex(span_id))::UBIGINT AS span_id,
           start_time_unix_nano::BIGINT AS start_time_ns
    FROM staged
) batch
WHERE NOT EXISTS (
    SELECT 1 FROM spans t
    WHERE t.start_time_ns BETWEEN ? AND ?
      AND t.start_time_ns = batch.start_time_ns
      AND t.trace_id = batch.trace_id
      AND t.span_id = batch.span_id
)
QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY seq) = 1
"""
_INSERT_SPANS = """
INSERT INTO spans
SELECT
    k.trace_id,
    k.span_id,
    ('0x' || hex(s.parent_span_id))::UBIGINT,
    r.service_name,
    s.name,
    s.kind,
    s.start_time_unix_nano::BIGINT,
    s.end_time_unix_nano::BIGINT - s.start_time_unix_nano::BIGINT,
    s.status_code,
    s.status_message,
    r.resource_id,
    c.scope_id,
    s.attributes,
    s.attributes_extra,
    s.events,
    s.links,
    s.trace_state,
    s.flags,
    s.dropped_attributes_count,
    s.dropped_events_count,
    s.dropped_links_count
FROM staged s
JOIN keep k ON k.seq = s.seq
JOIN resources r ON r.content_key = s.resource_key
JOIN scopes c ON c.content_key = s.scope_key
ORDER BY k.trace_id, s.start_time_unix_nano
"""
_INSERT_TRACES = """
INSERT INTO traces
SELECT trace_id, min(start_time_ns), max(start_time_ns) FROM keep GROUP BY trace_id
"""
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


def _start_range(batch: SpanBatch) -> list[int]:
    """The earliest and the latest start time in the batch (which ``_check_times`` passed)."""
    bounds = pc.min_max(batch.table.column("start_time_unix_nano")).as_py()
    return [bounds["min"], bounds["max"]]


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


class SpanWriter:
    """Inserts ``SpanBatch``es on one connection, one transaction each; one thread at a time.

    It remembers which resources, scopes and operations are stored, so that a batch
    inserts only what is new of those; ``reload`` after anything else changed them.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._resource_ids: dict[int, int] = {}
        self._scope_ids: dict[int, int] = {}
        self._operations: set[tuple[str, str, int]] = set()
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
        arrow_batch = batch.table.append_column("seq", pa.array(range(len(batch)), type=pa.int32()))
        con = self._con
        con.register("arrow_batch", arrow_batch)
        try:
            con.execute(_STAGE)
        finally:
            con.unregister("arrow_batch")
        with transaction(con):
            if new_resources:
                con.executemany(
                    "INSERT INTO resources VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        _resource_row(i, key, batch.resources[key])
                        for key, i in new_resources.items()
                    ],
                )
            if new_scopes:
                con.executemany(
                    "INSERT INTO scopes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [_scope_row(i, key, batch.scopes[key]) for key, i in new_scopes.items()],
                )
            con.execute(_KEEP, _start_range(batch))
            con.execute(_INSERT_SPANS)
            con.execute(_INSERT_TRACES)
            stored = con.execute(_STORED).fetchall()
            new_operations = [
                (service, name, kind)
                for service, name, kind, *_ in stored
                if (service, name, kind) not in self._operations
            ]
            if new_operations:
                con.executemany("INSERT INTO operations VALUES (?, ?, ?)", new_operations)
        # Only now that they are committed do the new rows count as stored.
        self._resource_ids.update(new_resources)
        self._scope_ids.update(new_scopes)
        self._last_resource_id += len(new_resources)
        self._last_scope_id += len(new_scopes)
        self._operations.update(new_operations)
        if not stored:
            return WriteResult(0, None, None)
        return WriteResult(
            stored=sum(row[3] for row in stored),
            start_min_ns=min(row[4] for row in stored),
            start_max_ns=max(row[5] for row in stored),
        )
