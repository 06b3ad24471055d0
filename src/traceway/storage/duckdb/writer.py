"""Writing a batch of spans: one transaction, the batch's Arrow table inserted by SQL.

One query finds which of the batch's spans are stored already; which spans to store,
their order and their resource and parent ids are then worked out with Arrow
kernels, the attribute entries split in two (``attribute_columns``) and the events
split from their times (``event_columns``: in Python, or in the ``INSERT`` for a
batch with unusual events or many spans with events), so that the spans go in with
one ``INSERT`` and their traces with another. A DuckDB statement costs a fixed half
a millisecond or more however few its rows (an ``INSERT INTO spans`` nearly 2 ms),
so a small batch's commit is mostly its statements.
``schema`` explains the layout.

Idempotence without a primary key: a span is left out when a span with its trace id,
span id and start time is stored, or when its (trace id, span id) came earlier in
the same batch. Matching the start time too lets the lookup read only the row
groups whose start times overlap the batch's (DuckDB keeps each row group's min and
max), so its cost follows the batch, not the size of the store: a re-sent span has
the start time it had, however late it comes again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from traceway.model import InstrumentationScope, Resource
from traceway.storage.attribute_entries import encode_entries
from traceway.storage.duckdb.attribute_columns import split_entries
from traceway.storage.duckdb.event_columns import EVENT_COLUMNS, EVENT_OFFSETS, split_events
from traceway.storage.duckdb.trace_lookup import TRACE_KEY
from traceway.storage.duckdb.transaction import transaction
from traceway.storage.duckdb.windows import TimeRange
from traceway.storage.span_batch import SpanBatch

__all__ = ["SpanWriter"]

_MAX_TIME_NS = 2**63 - 1  # OTLP allows 2**64 - 1; nanoseconds reach 2**63 in the year 2262

# Arrow tables that the statements read, found by DuckDB as the local variables of
# ``_run`` (a replacement scan: registering a table and dropping it again costs more
# than half a millisecond): ``batch_ids`` (the batch's ids and start times, numbered
# in ``seq``), ``new_spans`` (the spans to store, in the order they are stored),
# ``new_traces`` (their rows of ``traces``) and ``new_rows`` (rows of another table).
_STORED_SEQS = """
SELECT seq
FROM (
    SELECT seq,
           start_time_ns,
           ('0x' || hex(trace_id))::UHUGEINT AS trace_id,
           ('0x' || hex(span_id))::UBIGINT AS span_id
    FROM batch_ids
) b
SEMI JOIN (
    SELECT start_time_ns, trace_id, span_id FROM spans WHERE start_time_ns BETWEEN $low AND $high
) t ON t.start_time_ns = b.start_time_ns AND t.trace_id = b.trace_id AND t.span_id = b.span_id
"""
_SPAN_COLUMNS = """
('0x' || hex(s.trace_id))::UHUGEINT AS trace_id,
('0x' || hex(s.span_id))::UBIGINT AS span_id,
coalesce(('0x' || hex(s.parent_span_id))::UBIGINT, 0) AS parent_span_id,
s.parent_resource_id,
s.service_name,
s.name,
s.kind,
s.start_time_ns,
s.end_time_unix_nano::BIGINT - s.start_time_ns AS duration_ns,
s.status_code,
s.status_message,
s.resource_id,
s.scope_id,
s.attributes_common,
s.attributes_varying,
s.attributes_extra,
s.links,
s.trace_state,
s.flags,
s.dropped_attributes_count,
s.dropped_events_count,
s.dropped_links_count
"""
_INSERT_SPANS = f"""
INSERT INTO spans BY NAME
SELECT {_SPAN_COLUMNS}, s.events, s.event_offsets_ns FROM new_spans s
"""  # noqa: S608
"""For ``new_spans`` whose events ``split_events`` split already."""
_INSERT_SPANS_SPLITTING_EVENTS = f"""
INSERT INTO spans BY NAME
SELECT * EXCLUDE (offsets, event_items, events_as_sent), {EVENT_COLUMNS}
FROM (SELECT {_SPAN_COLUMNS}, {EVENT_OFFSETS} FROM new_spans s)
"""  # noqa: S608
"""For ``new_spans`` with their events as sent."""
_INSERT_TRACES = f"""
INSERT INTO traces
SELECT {TRACE_KEY}, start_min_ns, start_max_ns
FROM (SELECT ('0x' || hex(trace_id))::UHUGEINT AS trace_id, * EXCLUDE (trace_id) FROM new_traces)
"""  # noqa: S608


def _run(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Mapping[str, object] | None = None,
    *,
    batch_ids: pa.Table | None = None,
    new_spans: pa.Table | None = None,
    new_traces: pa.Table | None = None,
    new_rows: pa.Table | None = None,
) -> list[tuple[Any, ...]]:
    """The rows of ``sql``, which reads the tables given here by their names.

    DuckDB looks them up among the local variables of the frame that calls
    ``execute``, this one: a wrapper around ``con`` would hide them.
    """
    return con.execute(sql, params).fetchall()


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


def _span_keys(trace_ids: pa.Array, span_ids: pa.Array) -> pa.Array:
    """Trace id and span id as one binary value per span (null where the span id is)."""
    return pc.binary_join_element_wise(trace_ids.cast(pa.binary()), span_ids.cast(pa.binary()), b"")


def _lookup(
    keys: pa.ChunkedArray, mapping: Mapping[int, object], value_type: pa.DataType
) -> pa.Array:
    """The value ``mapping`` gives each of ``keys``."""
    found = pc.index_in(keys, value_set=pa.array(list(mapping), pa.int64()))
    return pa.array(list(mapping.values()), value_type).take(found)


def _ids(table: pa.Table) -> pa.Table:
    """The batch's ids and start times, each row numbered in ``seq``."""
    return pa.table(
        {
            "seq": pa.array(range(len(table)), pa.int32()),
            "trace_id": table.column("trace_id").combine_chunks(),
            "span_id": table.column("span_id").combine_chunks(),
            "parent_span_id": table.column("parent_span_id").combine_chunks(),
            "start_time_ns": table.column("start_time_unix_nano").combine_chunks().cast(pa.int64()),
        }
    )


def _kept_rows(ids: pa.Table, stored_seqs: list[int]) -> pa.Array:
    """The rows of the batch to store: not stored (``stored_seqs``), and the first of
    those with their (trace id, span id)."""
    rows = ids.column("seq").combine_chunks()
    if stored_seqs:
        rows = rows.filter(pc.invert(pc.is_in(rows, value_set=pa.array(stored_seqs, pa.int32()))))
    keys = _span_keys(ids.column("trace_id").take(rows), ids.column("span_id").take(rows))
    first = pc.equal(pc.index_in(keys, value_set=keys), pa.array(range(len(rows)), pa.int32()))
    return rows.filter(first)


def _ordered(ids: pa.Table, rows: pa.Array) -> tuple[pa.Array, pa.Table]:
    """``rows`` in the order they are stored (trace by trace, traces in order of their
    first start, each trace's spans by start time and span id), and the batch's rows of
    ``traces`` (trace id, first and last start) in the order they are stored."""
    spans = ids.select(["trace_id", "span_id", "start_time_ns"]).take(rows)
    traces = spans.group_by("trace_id", use_threads=False).aggregate(
        [("start_time_ns", "min"), ("start_time_ns", "max")]
    )
    traces = traces.rename_columns(["trace_id", "start_min_ns", "start_max_ns"])
    trace_start = traces.column("start_min_ns").take(
        pc.index_in(spans.column("trace_id"), value_set=traces.column("trace_id"))
    )
    # Big-endian ids sort as the numbers they are stored as.
    order = pc.sort_indices(
        spans.append_column("trace_start_ns", trace_start),
        [
            ("trace_start_ns", "ascending"),
            ("trace_id", "ascending"),
            ("start_time_ns", "ascending"),
            ("span_id", "ascending"),
        ],
    )
    traces = traces.take(
        pc.sort_indices(traces, [("start_min_ns", "ascending"), ("trace_id", "ascending")])
    )
    return rows.take(order), traces


def _new_spans(
    batch: SpanBatch,
    ids: pa.Table,
    rows: pa.Array,
    resources: Mapping[int, int],
    scopes: Mapping[int, int],
) -> tuple[pa.Table, str, list[tuple[str, str]]]:
    """The rows of ``new_spans``: the batch's ``rows`` with their attribute entries split
    (``attribute_columns``), their events split if ``split_events`` can, their resource,
    service, scope and parent's resource ids; the statement that inserts them; and the
    (key, type letter) pairs of their entries."""
    table = batch.table.take(rows)
    entries = split_entries(table.column("attributes"))
    resource_id = _lookup(table.column("resource_key"), resources, pa.uint32())
    service_names = {key: resource.service_name for key, resource in batch.resources.items()}
    trace_ids = ids.column("trace_id").take(rows)
    parents = pc.index_in(
        _span_keys(trace_ids, ids.column("parent_span_id").take(rows)),
        value_set=_span_keys(trace_ids, ids.column("span_id").take(rows)),
    )
    columns = {
        "start_time_ns": ids.column("start_time_ns").take(rows),
        "resource_id": resource_id,
        "parent_resource_id": pc.fill_null(resource_id.take(parents), 0),
        "service_name": _lookup(table.column("resource_key"), service_names, pa.string()),
        "scope_id": _lookup(table.column("scope_key"), scopes, pa.uint32()),
        "attributes_common": entries.common,
        "attributes_varying": entries.varying,
    }
    insert = _INSERT_SPANS
    events = table.column("events").combine_chunks()
    split = split_events(events, columns["start_time_ns"])
    if split is None:
        insert = _INSERT_SPANS_SPLITTING_EVENTS
        columns["events"] = events
    else:
        columns["events"], columns["event_offsets_ns"] = split
    dropped = ["attributes", "start_time_unix_nano", "resource_key", "scope_key", "events"]
    table = table.drop_columns(dropped)
    for name, column in columns.items():
        table = table.append_column(name, column)
    return table, insert, entries.types


def _operations(spans: pa.Table) -> list[tuple[str, str, int]]:
    """Each (service, span name, kind) among ``spans``, once."""
    found = spans.group_by(["service_name", "name", "kind"], use_threads=False).aggregate([])
    return list(
        zip(
            found.column("service_name").to_pylist(),
            found.column("name").to_pylist(),
            found.column("kind").to_pylist(),
            strict=True,
        )
    )


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
    sql = f"INSERT INTO {table} SELECT * FROM new_rows"  # noqa: S608 (a constant)
    _run(con, sql, new_rows=pa.table(columns))


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

    def write(self, batch: SpanBatch) -> TimeRange | None:
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
        ids = _ids(batch.table)
        new_types: list[tuple[str, str]] = []
        new_operations: list[tuple[str, str, int]] = []
        con = self._con
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
            stored_seqs = _run(con, _STORED_SEQS, _start_range(batch), batch_ids=ids)
            rows, traces = _ordered(ids, _kept_rows(ids, [seq for (seq,) in stored_seqs]))
            if len(rows):
                spans, insert_spans, types = _new_spans(
                    batch,
                    ids,
                    rows,
                    self._resource_ids | new_resources,
                    self._scope_ids | new_scopes,
                )
                new_types = [pair for pair in types if pair not in self._attribute_types]
                _insert_rows(con, "attribute_types", new_types)
                _run(con, insert_spans, new_spans=spans)
                _run(con, _INSERT_TRACES, new_traces=traces)
                new_operations = [
                    operation
                    for operation in _operations(spans)
                    if operation not in self._operations
                ]
                _insert_rows(con, "operations", new_operations)
        # Only now that they are committed do the new rows count as stored.
        self._resource_ids.update(new_resources)
        self._scope_ids.update(new_scopes)
        self._last_resource_id += len(new_resources)
        self._last_scope_id += len(new_scopes)
        self._operations.update(new_operations)
        self._attribute_types.update(new_types)
        if not len(rows):
            return None
        return TimeRange(
            pc.min(traces.column("start_min_ns")).as_py(),
            pc.max(traces.column("start_max_ns")).as_py(),
        )
