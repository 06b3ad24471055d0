"""The writer skips its stored-spans lookup only when no span of a batch can be stored.

``RecentSpans`` alone, then the writer: whatever is sent again, however late and after
however many generations, is stored once; and a batch of new spans makes no lookup.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traceway.model import Resource, Span
from traceway.storage.duckdb import DuckDBStore
from traceway.storage.duckdb import writer as span_writer
from traceway.storage.duckdb.recent_spans import RecentSpans


def test_an_empty_store_covers_every_start() -> None:
    recent = RecentSpans(None)
    assert not recent.may_be_stored([1, 2], -(2**63))
    recent.add([1, 2], 50)
    assert recent.may_be_stored([2, 3], 0)
    assert not recent.may_be_stored([3, 4], 0)


def test_spans_starting_before_what_was_stored_at_opening_are_looked_up() -> None:
    recent = RecentSpans(100)
    assert recent.may_be_stored([7], 100)
    assert not recent.may_be_stored([7], 101)


def test_a_full_generation_moves_on_and_the_one_before_is_forgotten() -> None:
    recent = RecentSpans(None, capacity=2)
    recent.add([1, 2], 10)  # full: current now covers starts from 11, previous everything
    assert recent.may_be_stored([1], 11)
    assert not recent.may_be_stored([3], -5)
    recent.add([3, 4], 20)  # full again: previous covers 11..20, current 21 on
    assert recent.may_be_stored([3], 11)
    assert not recent.may_be_stored([1], 11)  # its generation is gone, and so is its range
    assert recent.may_be_stored([1], 10)


def _span(number: int, start_ns: int) -> Span:
    return Span(
        f"{number % 3 + 1:032x}",
        f"{number + 1:016x}",
        "op",
        start_ns,
        start_ns + 10,
        resource=Resource({"service.name": "svc"}),
    )


def _stored(path: Path) -> list[tuple[int, int, int]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "SELECT trace_id, span_id, start_time_ns FROM spans ORDER BY ALL"
        ).fetchall()


# Each batch: spans (number, start in ms); numbers repeat, so spans are sent again,
# sometimes with another start (then they are another span, and stored too).
_BATCHES = st.lists(
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 40)), min_size=1, max_size=8),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(batches=_BATCHES, capacity=st.integers(1, 6))
def test_every_span_is_stored_once_whatever_comes_again(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[tuple[int, int]]], capacity: int
) -> None:
    path = tmp_path_factory.mktemp("recent") / "traces.duckdb"
    expected: set[tuple[int, int, int]] = set()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            span_writer, "RecentSpans", lambda latest: RecentSpans(latest, capacity=capacity)
        )
        store = DuckDBStore(path)
        for number, batch in enumerate(batches):
            if number % 4 == 3:  # now and then reopened: what is stored is known from the file
                store.close()
                store = DuckDBStore(path)
            spans = [_span(n, start * 10**6) for n, start in batch]
            stored_before = set(expected)
            store.write_spans(spans)
            # Spans stored already are left out; of the others, the first of each
            # (trace id, span id) is kept.
            in_batch: set[tuple[int, int]] = set()
            for span in spans:
                key = (int(span.trace_id, 16), int(span.span_id, 16), span.start_time_unix_nano)
                if key not in stored_before and key[:2] not in in_batch:
                    in_batch.add(key[:2])
                    expected.add(key)
        store.close()
    assert _stored(path) == sorted(expected)


def test_new_spans_are_written_without_a_lookup_and_a_resent_one_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups = []
    run = span_writer._run

    def counting_run(
        con: duckdb.DuckDBPyConnection, sql: str, *args: object, **tables: object
    ) -> object:
        if sql == span_writer._STORED_SEQS:
            lookups.append(sql)
        return run(con, sql, *args, **tables)  # type: ignore[arg-type]

    monkeypatch.setattr(span_writer, "_run", counting_run)
    path = tmp_path / "traces.duckdb"
    first = [_span(n, 10**9 + n) for n in range(5)]
    with DuckDBStore(path) as store:
        store.write_spans(first)
        store.write_spans([_span(n, 10**9 + n) for n in range(5, 10)])
        assert lookups == []
        store.write_spans([*first[2:4], _span(10, 2 * 10**9)])
        assert len(lookups) == 1
    with DuckDBStore(path) as store:  # after reopening, what starts before the newest is looked up
        store.write_spans([dataclasses.replace(first[0], name="again")])
        assert len(lookups) == 2
        store.write_spans([_span(11, 3 * 10**9)])
        assert len(lookups) == 2
    assert len(_stored(path)) == 12
