"""Which spans of a written batch to store, in which order, with which parents.

Of the batch's rows not stored already, the first of each (trace id, span id) is
kept (writes are idempotent, see ``writer``). The kept rows are stored trace by
trace, traces in order of their first start, each trace's spans by start time and
span id: neighbouring rows then share a trace id and close start times, which DuckDB
compresses to a few bytes and ``traces`` finds by row group. A kept row's parent is
the kept row of its trace whose span id is its parent span id, when the parent came
in the same batch (most do): dependencies need no join for those spans.

The C module ``_plan_native`` makes the plan in one pass without the GIL (its header
says why); where it is not built or leaves a batch, ``plan_arrow`` makes the same
with Arrow kernels, and is the reference it is tested against.
"""

from __future__ import annotations

import array
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from traceway.storage.duckdb.trace_lookup import trace_keys

try:
    from traceway.storage.duckdb import _plan_native
except ImportError:  # built by setup.py; optional so that installs without a compiler work
    _plan_native = None  # type: ignore[assignment,unused-ignore]

__all__ = ["Plan", "fixed_values", "plan", "plan_arrow", "row_numbers"]

_NO_ROW = pa.scalar(None, pa.int32())
_NO_BYTES = pa.scalar(b"", pa.binary())


@dataclass(frozen=True, slots=True)
class Plan:
    """What to store of a batch whose ids are a table like ``writer._ids`` makes."""

    rows: pa.Array
    """The batch's rows to store (``int32``), in the order they are stored."""
    parents: pa.Array
    """For each of ``rows``, its parent's place in ``rows`` (``int32``, null for none)."""
    traces: pa.Table
    """The batch's rows of ``traces`` (``start_min_ns``, ``start_max_ns``, ``trace_key``),
    in the order their spans are stored."""


_ROW_NUMBERS = pa.array(range(4096), pa.int32())


def row_numbers(count: int) -> pa.Array:
    """0, 1, ... ``count - 1`` as ``int32``: a slice of numbers made once, since making
    them from Python's integers costs some 80 us per thousand."""
    global _ROW_NUMBERS  # replaced whole: threads racing only make it twice
    numbers = _ROW_NUMBERS
    if count > len(numbers):
        numbers = _ROW_NUMBERS = pa.array(range(max(count, 2 * len(numbers))), pa.int32())
    return numbers.slice(0, count)


def plan(ids: pa.Table, stored_rows: list[int]) -> Plan:
    """The plan for a batch with ``ids`` (columns ``trace_id``, ``span_id``,
    ``parent_span_id``, ``start_time_ns``, ``trace_hi``, ``trace_lo``, ``span``,
    ``parent``, each of one chunk) whose ``stored_rows`` are stored already."""
    return _plan_natively(ids, stored_rows) or plan_arrow(ids, stored_rows)


def fixed_values(column: pa.Array | pa.ChunkedArray) -> memoryview:
    """The values of a fixed-width array or one-chunk column (ids, times), without a copy."""
    chunk = column.chunk(0) if isinstance(column, pa.ChunkedArray) else column
    width = chunk.type.byte_width
    data = memoryview(chunk.buffers()[1]).cast("B")
    return data[chunk.offset * width : (chunk.offset + len(chunk)) * width]


def _plan_natively(ids: pa.Table, stored_rows: list[int]) -> Plan | None:
    """``plan`` by the C module; None where it is not built or leaves the batch."""
    if _plan_native is None or any(column.num_chunks != 1 for column in ids.columns):
        return None
    if any(ids.column(name).null_count for name in ("trace_id", "span_id", "start_time_ns")):
        return None  # the writer refuses such spans before; Arrow keeps what it makes of them
    parents = ids.column("parent_span_id").chunk(0)
    validity = parents.buffers()[0] if parents.null_count else None
    valid = None if validity is None else memoryview(validity).cast("B")[parents.offset // 8 :]
    found = _plan_native.plan(
        len(ids),
        fixed_values(ids.column("trace_id")),
        fixed_values(ids.column("span_id")),
        fixed_values(ids.column("parent_span_id")),
        valid,
        parents.offset % 8,
        fixed_values(ids.column("start_time_ns")),
        array.array("i", stored_rows).tobytes(),
    )
    if found is None:
        return None
    rows, parent_rows, parent_valid, parent_count, firsts, lasts, keys = found
    kept = len(rows) // 4
    traces = len(keys) // 4
    return Plan(
        rows=pa.Array.from_buffers(pa.int32(), kept, [None, pa.py_buffer(rows)]),
        parents=pa.Array.from_buffers(
            pa.int32(),
            kept,
            [pa.py_buffer(parent_valid), pa.py_buffer(parent_rows)],
            null_count=kept - parent_count,
        ),
        traces=pa.table(
            {
                "start_min_ns": pa.Array.from_buffers(
                    pa.int64(), traces, [None, pa.py_buffer(firsts)]
                ),
                "start_max_ns": pa.Array.from_buffers(
                    pa.int64(), traces, [None, pa.py_buffer(lasts)]
                ),
                "trace_key": pa.Array.from_buffers(pa.uint32(), traces, [None, pa.py_buffer(keys)]),
            }
        ),
    )


def plan_arrow(ids: pa.Table, stored_rows: list[int]) -> Plan:
    """``plan`` with Arrow kernels: the reference the C module is tested against."""
    kept, distinct_span_ids = _kept_rows(ids, stored_rows)
    rows, traces = _ordered(ids, kept)
    parents = _parents(ids.take(rows), distinct_span_ids)
    if isinstance(parents, pa.ChunkedArray):
        parents = parents.combine_chunks()
    return Plan(rows, parents, traces)


def _span_keys(trace_ids: pa.Array, span_ids: pa.Array) -> pa.Array:
    """Trace id and span id as one binary value per span (null where the span id is)."""
    return pc.binary_join_element_wise(
        trace_ids.cast(pa.binary()), span_ids.cast(pa.binary()), _NO_BYTES
    )


def _kept_rows(ids: pa.Table, stored_rows: list[int]) -> tuple[pa.Array, bool]:
    """The rows of the batch to store: not stored (``stored_rows``), and the first of
    those with their (trace id, span id); and whether their span ids are all distinct
    (as random 64-bit ids nearly always are)."""
    rows = row_numbers(len(ids))
    span_ids = ids.column("span")
    if stored_rows:
        rows = rows.filter(pc.invert(pc.is_in(rows, value_set=pa.array(stored_rows, pa.int32()))))
        span_ids = span_ids.take(rows)
    numbers = row_numbers(len(rows))
    if pc.all(pc.equal(pc.index_in(span_ids, value_set=span_ids), numbers)).as_py() is not False:
        return rows, True
    keys = _span_keys(ids.column("trace_id").take(rows), ids.column("span_id").take(rows))
    first = pc.equal(pc.index_in(keys, value_set=keys), numbers)
    return rows.filter(first), False


def _ordered(ids: pa.Table, rows: pa.Array) -> tuple[pa.Array, pa.Table]:
    """``rows`` in the order they are stored, and the batch's rows of ``traces``."""
    spans = ids.select(["trace_id", "trace_hi", "trace_lo", "span", "start_time_ns"]).take(rows)
    traces = (
        spans.select(["trace_id", "trace_lo", "start_time_ns"])
        .group_by("trace_id", use_threads=False)
        .aggregate([("start_time_ns", "min"), ("start_time_ns", "max"), ("trace_lo", "min")])
    )
    traces = traces.rename_columns(["trace_id", "start_min_ns", "start_max_ns", "trace_lo"])
    trace_start = traces.column("start_min_ns").take(
        pc.index_in(spans.column("trace_id"), value_set=traces.column("trace_id"))
    )
    order = pc.sort_indices(
        spans.append_column("trace_start_ns", trace_start),
        [  # the words of an id sort as the id does
            ("trace_start_ns", "ascending"),
            ("trace_hi", "ascending"),
            ("trace_lo", "ascending"),
            ("start_time_ns", "ascending"),
            ("span", "ascending"),
        ],
    )
    # Big-endian ids sort as the numbers they are stored as.
    traces = traces.take(
        pc.sort_indices(traces, [("start_min_ns", "ascending"), ("trace_id", "ascending")])
    )
    return rows.take(order), traces.select(["start_min_ns", "start_max_ns"]).append_column(
        "trace_key", trace_keys(traces.column("trace_lo"))
    )


def _parents(chosen: pa.Table, distinct_span_ids: bool) -> pa.Array:
    """For each of the ``chosen`` rows of the ids, which of them is its parent (null
    when none is)."""
    if not distinct_span_ids:
        trace_ids = chosen.column("trace_id")
        return pc.index_in(
            _span_keys(trace_ids, chosen.column("parent_span_id")),
            value_set=_span_keys(trace_ids, chosen.column("span_id")),
        )
    # The only row with the parent's span id is the parent if its trace is the same.
    found = pc.index_in(chosen.column("parent"), value_set=chosen.column("span"))
    same_trace = [
        pc.equal(column.take(found), column)
        for column in (chosen.column("trace_hi"), chosen.column("trace_lo"))
    ]
    return pc.if_else(pc.and_(*same_trace), found, _NO_ROW)
