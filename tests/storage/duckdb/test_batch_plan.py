"""The C plan of a written batch is exactly the Arrow one.

``batch_plan.plan_arrow`` is the reference; ``_plan_native.plan`` must keep the same
rows in the same order, find the same parents and make the same rows of ``traces``
for any ids: repeated span ids within and across traces, re-sent spans, rows stored
already, parents in and out of the batch, sliced columns.
"""

from __future__ import annotations

import random
import threading

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traceway.storage.duckdb import _plan_native, batch_plan
from traceway.storage.duckdb import writer as span_writer
from traceway.storage.duckdb.batch_plan import Plan, plan_arrow, row_numbers

_TRACES = [1, 2, 2**127 + 3, 2**128 - 1, 0xAB << 64 | 2]
_SPANS = [1, 2, 3, 2**63, 2**64 - 1]
_STARTS = [0, 7, 7, 10**18, 2**63 - 1]  # _check_times refuses the others


def _ids(rows: list[tuple[int, int, int | None, int]], cut: int = 0) -> pa.Table:
    """The writer's ids of spans given as (trace id, span id, parent span id, start)."""
    table = pa.table(
        {
            "trace_id": pa.array([t.to_bytes(16, "big") for t, _, _, _ in rows], pa.binary(16)),
            "span_id": pa.array([s.to_bytes(8, "big") for _, s, _, _ in rows], pa.binary(8)),
            "parent_span_id": pa.array(
                [None if p is None else p.to_bytes(8, "big") for _, _, p, _ in rows], pa.binary(8)
            ),
            "start_time_unix_nano": pa.array([start for _, _, _, start in rows], pa.uint64()),
        }
    )
    return span_writer._ids(table).slice(cut)  # sliced: ids and validity bits at an offset


def _native(ids: pa.Table, stored: list[int]) -> Plan:
    found = batch_plan._plan_natively(ids, stored)
    assert found is not None, "the C plan left a batch it should take"
    return found


def _assert_same(native: Plan, reference: Plan) -> None:
    assert native.rows.to_pylist() == reference.rows.to_pylist()
    assert native.parents.to_pylist() == reference.parents.to_pylist()
    assert native.traces.to_pylist() == reference.traces.to_pylist()
    assert native.traces.schema == reference.traces.schema


_ROWS = st.lists(
    st.tuples(
        st.sampled_from(_TRACES),
        st.sampled_from(_SPANS),
        st.one_of(st.none(), st.sampled_from([*_SPANS, 99])),
        st.sampled_from(_STARTS),
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(rows=_ROWS, cut=st.integers(0, 11), data=st.data())
def test_the_same_as_arrow_for_any_ids(
    rows: list[tuple[int, int, int | None, int]], cut: int, data: st.DataObject
) -> None:
    ids = _ids(rows, min(cut, len(rows)))
    stored = (
        data.draw(st.lists(st.integers(0, max(len(ids) - 1, 0)), unique=True)) if len(ids) else []
    )
    _assert_same(_native(ids, stored), plan_arrow(ids, stored))


def test_a_batch_like_the_benchmarks() -> None:
    """Traces of 5 to 10 spans with random ids, parents in the batch, a few re-sent."""
    chooser = random.Random(7)
    rows: list[tuple[int, int, int | None, int]] = []
    while len(rows) < 4096:
        trace = chooser.getrandbits(128)
        start = chooser.randrange(10**18, 2 * 10**18)
        spans = [chooser.getrandbits(64) | 1 for _ in range(chooser.randint(5, 10))]
        for number, span in enumerate(spans):
            parent = None if number == 0 else spans[chooser.randrange(number)]
            rows.append((trace, span, parent, start + chooser.randrange(10**6)))
    rows += chooser.sample(rows, 40)  # re-sent within the batch
    chooser.shuffle(rows)
    ids = _ids(rows)
    stored = chooser.sample(range(len(rows)), 100)
    native = _native(ids, stored)
    _assert_same(native, plan_arrow(ids, stored))
    left = {row[:2] for number, row in enumerate(rows) if number not in set(stored)}
    assert len(native.rows) == len(left)  # each (trace id, span id) not stored, once
    assert native.parents.null_count < len(native.rows) // 4  # most parents are found


def test_nothing_to_store() -> None:
    ids = _ids([(1, 1, None, 0), (1, 2, 1, 5)])
    for stored in ([0, 1], [1, 0]):
        native = _native(ids, stored)
        _assert_same(native, plan_arrow(ids, stored))
        assert len(native.rows) == 0 and native.traces.num_rows == 0
    empty = _ids([])
    _assert_same(_native(empty, []), plan_arrow(empty, []))


def test_buffers_that_do_not_hold_the_rows_are_refused() -> None:
    trace, span = bytes(16), (1).to_bytes(8, "big")
    start = (0).to_bytes(8, "little")
    good = (1, trace, span, span, None, 0, start, b"")
    assert _plan_native.plan(*good) is not None
    cases = [
        (2, *good[1:]),  # two rows, buffers of one
        (1, trace[:-1], *good[2:]),
        (1, trace, span[:-1], *good[3:]),
        (1, trace, span, span, None, 0, start[:-1], b""),
        (1, trace, span, span, b"", 0, start, b""),  # no validity bits for the row
        (1, trace, span, span, b"\x01", 8, start, b""),  # a bit offset past a byte
        (-1, *good[1:]),
        (2**62, *good[1:]),
        (1, trace, span, span, None, 0, start, b"\x00"),  # not whole int32s
    ]
    for case in cases:
        with pytest.raises(ValueError, match="do not hold the rows"):
            _plan_native.plan(*case)
    for row in (1, -1):
        with pytest.raises(ValueError, match="not a row of the batch"):
            _plan_native.plan(
                1, trace, span, span, None, 0, start, row.to_bytes(4, "little", signed=True)
            )


def test_threads_at_once_get_the_same() -> None:
    chooser = random.Random(3)
    rows = [
        (chooser.choice(_TRACES), chooser.getrandbits(64), chooser.choice([None, 1, 2]), n)
        for n in range(5000)
    ]
    ids = _ids(rows)
    expected = plan_arrow(ids, [])
    failures: list[str] = []

    def check() -> None:
        for _ in range(20):
            found = _native(ids, [])
            if found.rows.to_pylist() != expected.rows.to_pylist():
                failures.append("rows differ")

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_null_ids_or_starts_are_left_to_arrow() -> None:
    """The writer refuses such spans before planning; if one came, Arrow would plan it."""
    ids = _ids([(1, 1, None, 0), (1, 2, 1, 5)])
    for name in ("trace_id", "span_id", "start_time_ns"):
        column = ids.column(name)
        nulled = pa.array([None, *column.to_pylist()[1:]], column.type)
        with_null = ids.set_column(ids.schema.get_field_index(name), name, nulled)
        assert batch_plan._plan_natively(with_null, []) is None


@pytest.mark.parametrize("count", [0, 1, 4096, 10_000, 3])
def test_row_numbers_count_from_zero(count: int) -> None:
    numbers = row_numbers(count)
    assert numbers.type == pa.int32()
    assert numbers.to_pylist() == list(range(count))
