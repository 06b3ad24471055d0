"""Writing a batch of spans: one transaction, the batch's Arrow table inserted by SQL.

One query finds which of the batch's spans are stored already; which spans to store,
their order and parents are then worked out (``batch_plan``), their resource ids with
Arrow kernels, the attribute entries split in two (``attribute_columns``; the common ones
stored once per set in ``attribute_sets``, so a span carries only the set's id) and the events
split from their times (``event_columns``: in Python, or in the ``INSERT`` for a
batch with unusual events or many spans with events of new shapes), so that the
spans go in with one ``INSERT`` and their traces with another. The ids go to SQL as
the unsigned integers they are stored as (``_words``), not as text to cast. A DuckDB
statement costs a fixed half a millisecond or more however few its rows (an
``INSERT INTO spans`` nearly 2 ms), so a small batch's commit is mostly its
statements. ``schema`` explains the layout.

Idempotence without a primary key: a span is left out when a span with its trace id,
span id and start time is stored, or when its (trace id, span id) came earlier in
the same batch. Matching the start time too lets the lookup read only the row
groups whose start times overlap the batch's (DuckDB keeps each row group's min and
max), so its cost follows the batch, not the size of the store: a re-sent span has
the start time it had, however late it comes again. The lookup is skipped when the
ids of the spans committed lately show that none of the batch's can be stored
(``recent_spans``) and no write being committed beside it holds one (``SpanWriter``).
"""

from __future__ import annotations

import array
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from traceway.model import InstrumentationScope, Resource
from traceway.storage.attribute_entries import encode_entries
from traceway.storage.duckdb.attribute_columns import split_entries
from traceway.storage.duckdb.batch_plan import Plan, plan, row_numbers
from traceway.storage.duckdb.event_columns import EVENT_COLUMNS, EVENT_OFFSETS, split_events
from traceway.storage.duckdb.recent_spans import RecentSpans
from traceway.storage.duckdb.windows import TimeRange
from traceway.storage.span_batch import SpanBatch

__all__ = ["CONCURRENT_WRITES", "SpanWriter", "WriterClosedError"]

# Typed scalars: a Python value given to a kernel has its type inferred, which costs
# pyarrow some 50 us when python-dateutil is not installed.
_ZERO = pa.scalar(0, pa.uint64())
_NULL = pa.scalar(None, pa.uint64())
_NO_RESOURCE = pa.scalar(0, pa.uint32())
_MAX_TIME_NS = 2**63 - 1  # OTLP allows 2**64 - 1; nanoseconds reach 2**63 in the year 2262

CONCURRENT_WRITES = 2
"""Writes a ``SpanWriter`` commits at once, at most (more would not find a core)."""

REMEMBERED_ATTRIBUTE_SETS = 65_536
"""Attribute sets whose ids the writer keeps in memory. Past that it forgets them and
learns them again: a set seen again is then stored again, under a new id."""

# Arrow tables that the statements read, found by DuckDB among the local variables of
# the function that runs them (a replacement scan: registering a table and dropping it
# again costs more than half a millisecond): ``batch_ids`` (the batch's ids and start
# times, numbered in ``seq``) in ``_run``; in ``_commit``, ``new_spans`` (the spans to
# store, in the order they are stored), ``new_traces`` (their rows of ``traces``) and
# ``new_<table>`` (new rows of another table).
_TRACE_ID = "(trace_hi::UHUGEINT << 64) | trace_lo AS trace_id"
"""A ``trace_id`` from the two ``uint64`` words of it (``_words``) in a table."""
_STORED_SEQS = f"""
SELECT seq
FROM (
    SELECT seq, start_time_ns, {_TRACE_ID}, span AS span_id FROM batch_ids
) b
SEMI JOIN (
    SELECT start_time_ns, trace_id, span_id FROM spans WHERE start_time_ns BETWEEN $low AND $high
) t ON t.start_time_ns = b.start_time_ns AND t.trace_id = b.trace_id AND t.span_id = b.span_id
"""  # noqa: S608
# The spans' columns are computed in Arrow: a statement with fewer expressions to
# bind costs less (0.3 ms less for a batch of spans, as much again for traces).
_INSERT_SPANS = f"""
INSERT INTO spans BY NAME
SELECT {_TRACE_ID}, * EXCLUDE (trace_hi, trace_lo) FROM new_spans
"""  # noqa: S608
"""For ``new_spans`` whose events ``split_events`` split already."""
_INSERT_SPANS_SPLITTING_EVENTS = f"""
INSERT INTO spans BY NAME
SELECT * EXCLUDE (offsets, event_items, events_as_sent), {EVENT_COLUMNS}
FROM (
    SELECT {_TRACE_ID}, s.* EXCLUDE (trace_hi, trace_lo, events), {EVENT_OFFSETS}
    FROM new_spans s
)
"""  # noqa: S608
"""For ``new_spans`` with their events as sent."""
_INSERT_TRACES = "INSERT INTO traces SELECT trace_key, start_min_ns, start_max_ns FROM new_traces"


def _run(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Mapping[str, object] | None = None,
    *,
    batch_ids: pa.Table | None = None,
) -> list[tuple[Any, ...]]:
    """The rows of ``sql``, which reads the table given here by its name.

    DuckDB looks it up among the local variables of the frame that calls
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


def _words(ids: pa.Array) -> list[pa.Array]:
    """Big-endian binary ids (8 or 16 bytes) as the ``uint64`` words of the numbers
    they are stored as, most significant first; null where an id is. Cast in SQL from
    hex text instead, the three ids cost the ``INSERT`` some 0.6 us per span."""
    width = ids.type.byte_width
    words = array.array("Q")
    words.frombytes(ids.buffers()[1][ids.offset * width : (ids.offset + len(ids)) * width])
    if sys.byteorder == "little":
        words.byteswap()
    found = []
    for word in range(width // 8):
        values = pa.Array.from_buffers(
            pa.uint64(), len(ids), [None, pa.py_buffer(words[word :: width // 8])]
        )
        found.append(pc.if_else(ids.is_valid(), values, _NULL) if ids.null_count else values)
    return found


def _integers(words: pa.ChunkedArray) -> list[int]:
    """A ``uint64`` column's numbers (what is under a null too), as a list: the recent
    span ids are looked through three times, and a list makes its integers once."""
    found = array.array("Q")
    for chunk in words.chunks:
        found.frombytes(chunk.buffers()[1][chunk.offset * 8 : (chunk.offset + len(chunk)) * 8])
    return found.tolist()


def _lookup(
    keys: pa.ChunkedArray, mapping: Mapping[int, object], value_type: pa.DataType
) -> pa.Array:
    """The value ``mapping`` gives each of ``keys``."""
    found = pc.index_in(keys, value_set=pa.array(list(mapping), pa.int64()))
    return pa.array(list(mapping.values()), value_type).take(found)


def _ids(table: pa.Table) -> pa.Table:
    """The batch's ids and start times, each row numbered in ``seq``; the ids also as
    the integers they are stored as (``trace_hi``, ``trace_lo``, ``span``, ``parent``)."""
    trace_ids = table.column("trace_id").combine_chunks()
    span_ids = table.column("span_id").combine_chunks()
    parent_span_ids = table.column("parent_span_id").combine_chunks()
    trace_hi, trace_lo = _words(trace_ids)
    return pa.table(
        {
            "seq": row_numbers(len(table)),
            "trace_id": trace_ids,
            "span_id": span_ids,
            "parent_span_id": parent_span_ids,
            "start_time_ns": table.column("start_time_unix_nano").combine_chunks().cast(pa.int64()),
            "trace_hi": trace_hi,
            "trace_lo": trace_lo,
            "span": _words(span_ids)[0],
            "parent": _words(parent_span_ids)[0],
        }
    )


@dataclass(frozen=True, slots=True)
class _NewSpans:
    """What ``_new_spans`` makes of a batch's spans to store."""

    table: pa.Table
    """The rows of ``new_spans``."""
    insert: str
    """The statement that inserts them."""
    types: list[tuple[str, str]]
    """The (key, type letter) pairs of their entries."""
    attribute_sets: dict[str, int]
    """The attribute sets they use that are not stored yet, with their new ids."""


def _attribute_set_ids(
    common: pa.Array, stored: Mapping[str, int], last_id: int
) -> tuple[pa.Array, dict[str, int]]:
    """Each span's ``attribute_set_id`` for its set text (``SplitEntries.common``; 0 for
    an empty one), and the texts not in ``stored`` with the ids given them (after ``last_id``)."""
    encoded = common if pa.types.is_dictionary(common.type) else pc.dictionary_encode(common)
    new: dict[str, int] = {}
    set_ids = []
    for text in encoded.dictionary.to_pylist():  # each text once
        set_id = stored.get(text) if text else 0
        if set_id is None:
            set_id = new[text] = last_id + len(new) + 1
        set_ids.append(set_id)
    return pa.array(set_ids, pa.uint32()).take(encoded.indices), new


def _new_spans(
    batch: SpanBatch,
    ids: pa.Table,
    to_store: Plan,
    resources: Mapping[int, int],
    scopes: Mapping[int, int],
    set_ids_of: Callable[[pa.Array], tuple[pa.Array, dict[str, int]]],
) -> _NewSpans:
    """The batch's rows of ``to_store`` with their attribute entries split
    (``attribute_columns``; the common ones as the id of their set, which
    ``set_ids_of`` gives with the new sets' ids), their events split if
    ``split_events`` can, their resource, service, scope and parent's resource ids."""
    rows = to_store.rows
    table = batch.table.drop_columns(
        ["trace_id", "span_id", "parent_span_id", "start_time_unix_nano"]
    ).take(rows)
    entries = split_entries(table.column("attributes"))
    set_ids, new_sets = set_ids_of(entries.common)
    resource_id = _lookup(table.column("resource_key"), resources, pa.uint32())
    service_names = {key: resource.service_name for key, resource in batch.resources.items()}
    chosen = ids.take(rows)
    start_ns = chosen.column("start_time_ns")
    columns = {
        "trace_hi": chosen.column("trace_hi"),
        "trace_lo": chosen.column("trace_lo"),
        "span_id": chosen.column("span"),
        "parent_span_id": pc.fill_null(chosen.column("parent"), _ZERO),
        "start_time_ns": start_ns,
        # End minus start as sent: both fit a BIGINT (``_check_times``), so does this.
        "duration_ns": pc.subtract(table.column("end_time_unix_nano").cast(pa.int64()), start_ns),
        "resource_id": resource_id,
        "parent_resource_id": pc.fill_null(resource_id.take(to_store.parents), _NO_RESOURCE),
        "service_name": _lookup(table.column("resource_key"), service_names, pa.string()),
        "scope_id": _lookup(table.column("scope_key"), scopes, pa.uint32()),
        "attribute_set_id": set_ids,
        "attributes_varying": entries.varying,
    }
    if entries.with_rs is not None:
        columns["attributes_with_rs"] = entries.with_rs
    insert = _INSERT_SPANS
    events = table.column("events").combine_chunks()
    split = split_events(events, start_ns)
    if split is None:
        insert = _INSERT_SPANS_SPLITTING_EVENTS
        columns["events"] = events
    else:
        columns["events"], columns["event_offsets_ns"] = split
    kept = table.drop_columns(
        ["attributes", "resource_key", "scope_key", "events", "end_time_unix_nano"]
    )
    spans = pa.Table.from_arrays(
        [*kept.columns, *columns.values()], names=[*kept.column_names, *columns]
    )
    return _NewSpans(spans, insert, entries.types, new_sets)


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


def _rows(rows: Sequence[Sequence[object]]) -> pa.Table | None:
    """``rows`` (in a table's column order) as an Arrow table to insert, None if none."""
    if not rows:
        return None
    return pa.table({f"c{i}": pa.array(column) for i, column in enumerate(zip(*rows, strict=True))})


@dataclass(frozen=True, slots=True)
class _Write:
    """A prepared write: the rows to insert, and what the writer learns once they are."""

    spans: _NewSpans | None
    """The spans to store, None when all are stored already."""
    traces: pa.Table
    """Their rows of ``traces``."""
    resources: list[tuple[object, ...]]
    """New rows of ``resources``; likewise ``scopes``, ``types`` (of
    ``attribute_types``) and ``operations``."""
    scopes: list[tuple[object, ...]]
    types: list[tuple[str, str]]
    operations: list[tuple[str, str, int]]
    new_resources: dict[int, int]
    """The content key and new id of each of ``resources``; likewise ``new_scopes``."""
    new_scopes: dict[int, int]
    span_ids: frozenset[int]
    """Every span id of the batch, for ``RecentSpans.add`` with ``latest_start``."""
    latest_start: int

    def meets(
        self,
        span_ids: Collection[int] = (),
        *,
        resources: Collection[int] = (),
        scopes: Collection[int] = (),
        types: Collection[tuple[str, str]] = (),
        operations: Collection[tuple[str, str, int]] = (),
    ) -> bool:
        """Whether this write holds one of ``span_ids`` or adds one of the rows named
        (resources and scopes by content key): a write prepared while this one is in
        flight must then wait for it to end."""
        return (
            not self.span_ids.isdisjoint(span_ids)
            or not self.new_resources.keys().isdisjoint(resources)
            or not self.new_scopes.keys().isdisjoint(scopes)
            or not set(self.types).isdisjoint(types)
            or not set(self.operations).isdisjoint(operations)
        )

    @property
    def written(self) -> TimeRange | None:
        """When the stored spans start, None if none is."""
        if self.spans is None:
            return None
        return TimeRange(
            pc.min(self.traces.column("start_min_ns")).as_py(),
            pc.max(self.traces.column("start_max_ns")).as_py(),
        )


def _commit(con: duckdb.DuckDBPyConnection, write: _Write) -> None:
    """Insert the rows in one transaction, given to DuckDB as one script.

    One call rather than one per statement: each call lets go of the GIL and must
    take it back, which while the event loop and decoding keep it busy costs a wait
    of about as long as a small statement itself (0.7 ms a call on average at full
    ingest). ``executemany`` would cost some 0.4 ms a row; each table's new rows go
    in as one Arrow table.
    """
    spans = write.spans
    # Named new_<table>: DuckDB finds the tables among this frame's local variables.
    new_resources, new_scopes = _rows(write.resources), _rows(write.scopes)
    new_attribute_types = _rows(write.types)
    new_attribute_sets = _rows(
        [] if spans is None else [(i, text) for text, i in spans.attribute_sets.items()]
    )
    new_operations = _rows(write.operations)
    new_spans = None if spans is None else spans.table  # noqa: F841 (read by DuckDB)
    new_traces = write.traces  # noqa: F841 (read by DuckDB)
    rows = {
        "resources": new_resources,
        "scopes": new_scopes,
        "attribute_types": new_attribute_types,
        "attribute_sets": new_attribute_sets,
        "operations": new_operations,
    }
    statements = [
        f"INSERT INTO {table} SELECT * FROM new_{table}"  # noqa: S608 (constants)
        for table, found in rows.items()
        if found is not None
    ]
    if spans is not None:
        statements += [spans.insert, _INSERT_TRACES]
    if not statements:
        return
    try:
        con.execute(";\n".join(["BEGIN TRANSACTION", *statements, "COMMIT"]))
    except BaseException:
        # A failed statement leaves the transaction open, and the ones after it unrun.
        with suppress(duckdb.Error):
            con.rollback()
        raise


def _unstored(keys: Iterable[int], stored: Mapping[int, int]) -> list[int]:
    """The ``keys`` (of resources or scopes) not among the ``stored`` ones."""
    return [key for key in keys if key not in stored]


def _new_ids(keys: Iterable[int], last_id: int) -> dict[int, int]:
    """Each of ``keys`` with an id after ``last_id``, in order."""
    return {key: last_id + number for number, key in enumerate(keys, 1)}


def _ids_of(
    keys: Mapping[int, object], stored: Mapping[int, int], new: Mapping[int, int]
) -> dict[int, int]:
    """The row id of each of a batch's resources (or scopes), stored or new: only these,
    so that a lookup costs the batch's few and not every one ever stored."""
    return {key: new[key] if key in new else stored[key] for key in keys}


class WriterClosedError(Exception):
    """The writer was closed before the write could begin."""


class SpanWriter:
    """Inserts ``SpanBatch``es, one transaction each, from up to ``CONCURRENT_WRITES``
    threads at once, each on a cursor of its own.

    It remembers which resources, scopes, operations and attribute types are stored,
    and up to ``REMEMBERED_ATTRIBUTE_SETS`` attribute sets, so that a batch inserts only
    what is new of those; ``reload`` after anything else changed them.

    Writes are prepared one at a time, in turn (the Python and Arrow work, which the GIL
    mostly serialises anyway), and committed side by side: DuckDB appends of two
    transactions to one table never conflict, and while one commit writes its log the
    other's statements run. A write being committed is *in flight*; one prepared
    meanwhile that might hold one of its spans, or needs a resource, scope, attribute
    type or operation that it adds, waits for it to end, so that what it finds stored
    is what was committed, and nothing is inserted twice or left out when a commit
    fails. Attribute sets are not waited for: a set may be stored twice under two ids.
    Ids are handed out when a write is prepared, so a failed write leaves a gap.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._resource_ids: dict[int, int] = {}
        self._scope_ids: dict[int, int] = {}
        self._operations: set[tuple[str, str, int]] = set()
        self._attribute_types: set[tuple[str, str]] = set()
        self._attribute_sets: dict[str, int] = {}
        # Ids only grow, also after deletions: readers cache rows by id (ReferenceRows).
        self._last_resource_id = 0
        self._last_scope_id = 0
        self._last_set_id = 0
        self.reload()
        ((latest_start,),) = con.execute("SELECT max(start_time_ns) FROM spans").fetchall()
        self._recent = RecentSpans(latest_start)
        self._turn = threading.Lock()
        """Held while a write is prepared, and by ``alone``."""
        self._state = threading.Condition()
        """Guards what the writer knows is stored, ``_in_flight`` and ``_cursors``;
        notified when a write ends."""
        self._in_flight: dict[int, _Write] = {}
        self._writes = 0
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        """Cursors of ``con`` not in use by a write; the writer closes them."""
        self._all_cursors: list[duckdb.DuckDBPyConnection] = []
        self._closed = False

    def reload(self) -> None:
        """Read back which resources, scopes, operations and attribute types are stored
        (after a deletion, made ``alone``)."""
        con = self._con
        self._resource_ids = dict(
            con.execute("SELECT content_key, resource_id FROM resources").fetchall()
        )
        self._scope_ids = dict(con.execute("SELECT content_key, scope_id FROM scopes").fetchall())
        self._operations = set(
            con.execute("SELECT service_name, name, kind FROM operations").fetchall()
        )
        self._attribute_types = set(con.execute("SELECT key, type FROM attribute_types").fetchall())
        self._attribute_sets = dict(  # the newest, so the largest id among them
            con.execute(
                "SELECT entries, set_id FROM attribute_sets ORDER BY set_id DESC LIMIT ?",
                [REMEMBERED_ATTRIBUTE_SETS],
            ).fetchall()
        )
        self._last_resource_id = max(self._last_resource_id, *self._resource_ids.values(), 0)
        self._last_scope_id = max(self._last_scope_id, *self._scope_ids.values(), 0)
        self._last_set_id = max(self._last_set_id, *self._attribute_sets.values(), 0)

    @contextmanager
    def alone(self) -> Iterator[None]:
        """No write runs while this is held: it waits for those in flight, and new ones
        wait for it."""
        with self._turn, self._state:
            self._state.wait_for(lambda: not self._in_flight)
            yield

    def close(self) -> None:
        """Close the writer's cursors (while ``alone``); a write after this raises
        ``WriterClosedError``."""
        self._closed = True
        for cursor in self._all_cursors:
            cursor.close()
        self._all_cursors.clear()
        self._cursors.clear()

    def write(self, batch: SpanBatch) -> TimeRange | None:
        """Store the batch's new spans; committed when this returns."""
        with self._turn:
            if self._closed:
                raise WriterClosedError
            with self._state:
                cursor = self._cursors.pop() if self._cursors else None
            if cursor is None:
                cursor = self._con.cursor()
                self._all_cursors.append(cursor)
            try:
                number, write = self._prepare(batch, cursor)
            except BaseException:
                with self._state:
                    self._cursors.append(cursor)
                raise
        committed = False
        try:
            _commit(cursor, write)
            committed = True
        finally:
            with self._state:
                try:
                    if committed:
                        self._publish(write)
                finally:  # a write left in flight would hold up every write after it
                    del self._in_flight[number]
                    self._cursors.append(cursor)
                    self._state.notify_all()
        return write.written

    def _wait_for_writes_meeting(self, *span_ids: Collection[int], **rows: Collection[Any]) -> bool:
        """Wait (holding ``_state``) until no write in flight now that ``meets`` these
        span ids or rows is still in flight; whether there was one."""
        writes = {n for n, write in self._in_flight.items() if write.meets(*span_ids, **rows)}
        self._state.wait_for(lambda: writes.isdisjoint(self._in_flight))
        return bool(writes)

    def _prepare(self, batch: SpanBatch, cursor: duckdb.DuckDBPyConnection) -> tuple[int, _Write]:
        """What to insert of ``batch``, in flight under the number returned (in turn)."""
        _check_times(batch)
        ids = _ids(batch.table)
        span_ids = frozenset(_integers(ids.column("span")))
        start_range = _start_range(batch)
        with self._state:
            may_be_stored = self._wait_for_writes_meeting(span_ids) or (
                bool(span_ids) and self._recent.may_be_stored(span_ids, start_range["low"])
            )
        # Read outside a transaction: what is committed, every write it might meet included.
        stored_seqs = (
            _run(cursor, _STORED_SEQS, start_range, batch_ids=ids) if may_be_stored else []
        )
        to_store = plan(ids, [seq for (seq,) in stored_seqs])
        with self._state:
            self._wait_for_writes_meeting(
                resources=_unstored(batch.resources, self._resource_ids),
                scopes=_unstored(batch.scopes, self._scope_ids),
            )
            # Asked again: a write waited for may have stored some of them.
            new_resources = _new_ids(
                _unstored(batch.resources, self._resource_ids), self._last_resource_id
            )
            new_scopes = _new_ids(_unstored(batch.scopes, self._scope_ids), self._last_scope_id)
            self._last_resource_id += len(new_resources)
            self._last_scope_id += len(new_scopes)
            resources = _ids_of(batch.resources, self._resource_ids, new_resources)
            scopes = _ids_of(batch.scopes, self._scope_ids, new_scopes)
        spans = None
        types: list[tuple[str, str]] = []
        operations: list[tuple[str, str, int]] = []
        if len(to_store.rows):
            spans = _new_spans(batch, ids, to_store, resources, scopes, self._set_ids)
            types, operations = spans.types, _operations(spans.table)
        with self._state:
            self._wait_for_writes_meeting(types=types, operations=operations)
            write = _Write(
                spans,
                to_store.traces,
                resources=[
                    _resource_row(i, key, batch.resources[key]) for key, i in new_resources.items()
                ],
                scopes=[_scope_row(i, key, batch.scopes[key]) for key, i in new_scopes.items()],
                types=[pair for pair in types if pair not in self._attribute_types],
                operations=[o for o in operations if o not in self._operations],
                new_resources=new_resources,
                new_scopes=new_scopes,
                span_ids=span_ids,
                latest_start=start_range["high"],
            )
            number = self._writes
            self._writes += 1
            self._in_flight[number] = write
        return number, write

    def _set_ids(self, common: pa.Array) -> tuple[pa.Array, dict[str, int]]:
        """``_attribute_set_ids`` of ``common``, the new sets' ids handed out at once."""
        with self._state:
            set_ids, new_sets = _attribute_set_ids(common, self._attribute_sets, self._last_set_id)
            self._last_set_id += len(new_sets)
        return set_ids, new_sets

    def _publish(self, write: _Write) -> None:
        """Count a committed write's rows as stored (holding ``_state``)."""
        self._resource_ids.update(write.new_resources)
        self._scope_ids.update(write.new_scopes)
        self._operations.update(write.operations)
        self._attribute_types.update(write.types)
        new_sets = write.spans.attribute_sets if write.spans is not None else {}
        if len(self._attribute_sets) + len(new_sets) > REMEMBERED_ATTRIBUTE_SETS:
            self._attribute_sets.clear()
        self._attribute_sets.update(new_sets)
        if write.span_ids:
            self._recent.add(write.span_ids, write.latest_start)
