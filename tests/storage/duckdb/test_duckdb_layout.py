"""The compact layout of the DuckDB file: what goes where, and that spans read back whole.

Attribute entries split into a shared set and a text, event times as offsets, and
traces looked up by a 32-bit key: each is a way of storing a span that must give
back exactly the span written, and find it exactly as before.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from traceway.model import Event, Resource, Span, Trace
from traceway.storage.api import DependencyLink, TraceQuery
from traceway.storage.duckdb import DuckDBStore
from traceway.storage.duckdb import rows as reference_rows
from traceway.storage.duckdb import writer as span_writer
from traceway.storage.duckdb.attribute_columns import REPEATS_FOR_COMMON, entries, split_entries


def _span(trace: int, number: int, **changes: object) -> Span:
    span = Span(
        f"{trace:032x}",
        f"{number:016x}",
        "op",
        1_000 * number,
        1_000 * number + 500,
        resource=Resource({"service.name": "svc"}),
    )
    return dataclasses.replace(span, **changes)  # type: ignore[arg-type]


def _column(path: Path, sql: str) -> list[object]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [row[0] for row in con.execute(sql).fetchall()]


def test_repeated_values_share_a_set_and_the_others_are_a_text_of_their_own(tmp_path: Path) -> None:
    path = tmp_path / "traces.duckdb"
    count = 2 * REPEATS_FOR_COMMON
    spans = [
        _span(1, n, attributes={"route": "/users", "user": f"u{n}", "odd": "a\x1eb" if n else "c"})
        for n in range(1, count + 1)
    ]
    with DuckDBStore(path) as store:
        store.write_spans(spans)
        trace = store.get_trace(f"{1:032x}")
        assert trace is not None
        assert trace.spans == tuple(spans)
        # A value holding the separator is found, in the list, like any other.
        assert store.find_trace_ids(TraceQuery(tags={"odd": "a\x1eb"})) == [f"{1:032x}"]
        assert store.find_trace_ids(TraceQuery(tags={"route": "/users"})) == [f"{1:032x}"]
        assert store.find_trace_ids(TraceQuery(tags={"user": "u3"})) == [f"{1:032x}"]
        assert store.find_trace_ids(TraceQuery(tags={"route": "/user"})) == []
    assert _column(path, "SELECT entries FROM attribute_sets") == ["\x1eroute\x1fs/users\x1e"]
    (set_id,) = _column(path, "SELECT set_id FROM attribute_sets")
    assert set(_column(path, "SELECT attribute_set_id FROM spans")) == {set_id}
    varying = _column(path, "SELECT attributes_varying FROM spans ORDER BY span_id")
    assert varying[:2] == ["\x1euser\x1fsu1\x1e", "\x1euser\x1fsu2\x1e"]
    with_rs = _column(path, "SELECT attributes_with_rs FROM spans ORDER BY span_id")
    assert with_rs[:2] == [["odd\x1fsa\x1eb"], ["odd\x1fsa\x1eb"]]


def test_a_small_commit_logs_its_own_spans_and_not_those_before_it(tmp_path: Path) -> None:
    # DuckDB logs a list column's entries again with those of the rows before it in
    # the same vector of 2,048 rows: were the varying entries a list, the log of each
    # 10-span commit would grow with every commit (2.3 KB, then 6.4 KB by the 30th here).
    path = tmp_path / "traces.duckdb"
    wal = tmp_path / "traces.duckdb.wal"
    logged = []
    with DuckDBStore(path) as store:
        for commit in range(30):
            before = wal.stat().st_size if wal.exists() else 0
            store.write_spans(
                [
                    _span(commit + 1, 100 * commit + n + 1, attributes={"user": f"u{commit}.{n}"})
                    for n in range(10)
                ]
            )
            logged.append(wal.stat().st_size - before)
    assert max(logged[1:]) < 2 * min(logged[1:]), logged


def _common_batch(trace: int, route: str) -> list[Span]:
    """Spans of one trace whose ``route`` is common in their batch, and ``user`` is not."""
    return [
        _span(trace, 100 * trace + n, attributes={"route": route, "user": f"u{n}"})
        for n in range(REPEATS_FOR_COMMON)
    ]


def _assert_read_back(store: DuckDBStore, traces: list[tuple[int, str]]) -> None:
    """Each (trace, route) of ``traces`` reads back as ``_common_batch`` wrote it."""
    for trace, route in traces:
        found = store.get_trace(f"{trace:032x}")
        assert found is not None
        assert found.spans == tuple(_common_batch(trace, route))


def _assert_found(store: DuckDBStore, route: str, traces: list[int]) -> None:
    """A search for ``route`` finds exactly ``traces``."""
    found = store.find_trace_ids(TraceQuery(tags={"route": route}))
    assert sorted(found) == [f"{trace:032x}" for trace in traces]


def _sets(path: Path) -> list[tuple[int, str]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT set_id, entries FROM attribute_sets ORDER BY set_id").fetchall()


def test_an_attribute_set_is_stored_once_across_batches_and_reopenings(tmp_path: Path) -> None:
    path = tmp_path / "traces.duckdb"
    with DuckDBStore(path) as store:
        store.write_spans(_common_batch(1, "/a"))
        store.write_spans(_common_batch(2, "/a") + _common_batch(3, "/b"))
    with DuckDBStore(path) as store:  # the sets stored are known again
        store.write_spans(_common_batch(4, "/b") + _common_batch(5, "/c"))
        _assert_read_back(store, [(1, "/a"), (2, "/a"), (3, "/b"), (4, "/b"), (5, "/c")])
        _assert_found(store, "/b", [3, 4])
    assert _sets(path) == [
        (1, "\x1eroute\x1fs/a\x1e"),
        (2, "\x1eroute\x1fs/b\x1e"),
        (3, "\x1eroute\x1fs/c\x1e"),
    ]


def test_sets_forgotten_past_the_bound_are_stored_again_and_read_right(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(span_writer, "REMEMBERED_ATTRIBUTE_SETS", 2)
    monkeypatch.setattr(reference_rows, "MAX_REFERENCE_ROWS", 2)
    path = tmp_path / "traces.duckdb"
    routes = ["/a", "/b", "/c", "/a", "/b"]
    with DuckDBStore(path) as store:
        for trace, route in enumerate(routes, 1):
            store.write_spans(_common_batch(trace, route))
            # Reading each time makes the readers' cache fill and forget too.
            _assert_read_back(store, list(enumerate(routes[:trace], 1)))
        _assert_found(store, "/a", [1, 4])
    stored = _sets(path)
    # "/a" was forgotten by the time it came again: stored twice, under new ids only.
    assert [text for _, text in stored].count("\x1eroute\x1fs/a\x1e") == 2
    assert [set_id for set_id, _ in stored] == list(range(1, len(stored) + 1))


def _later(spans: list[Span]) -> list[Span]:
    """``spans`` a second later."""
    return [
        dataclasses.replace(
            span,
            start_time_unix_nano=span.start_time_unix_nano + 10**9,
            end_time_unix_nano=span.end_time_unix_nano + 10**9,
        )
        for span in spans
    ]


def test_deleting_traces_drops_the_sets_only_they_used(tmp_path: Path) -> None:
    path = tmp_path / "traces.duckdb"
    with DuckDBStore(path) as store:
        store.write_spans(_common_batch(1, "/old") + _common_batch(2, "/both"))
        store.write_spans(_later(_common_batch(3, "/both") + _common_batch(4, "/new")))
        assert store.delete_traces_before(5 * 10**8) == 2 * REPEATS_FOR_COMMON
        trace = store.get_trace(f"{3:032x}")
        assert trace is not None
        assert trace.spans == tuple(_later(_common_batch(3, "/both")))
        assert store.find_trace_ids(TraceQuery(tags={"route": "/old"})) == []
        # A set deleted and then seen again is stored again, under a new id.
        store.write_spans(_later(_common_batch(5, "/old")))
        assert store.find_trace_ids(TraceQuery(tags={"route": "/old"})) == [f"{5:032x}"]
    assert _sets(path) == [
        (2, "\x1eroute\x1fs/both\x1e"),
        (3, "\x1eroute\x1fs/new\x1e"),
        (4, "\x1eroute\x1fs/old\x1e"),
    ]


def test_a_key_stored_with_a_new_type_is_found_as_each(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "traces.duckdb") as store:
        store.write_spans([_span(1, 1, attributes={"n": 5})])
        assert store.find_trace_ids(TraceQuery(tags={"n": "5"})) == [f"{1:032x}"]
        store.write_spans([_span(2, 2, attributes={"n": "5"})])
        store.write_spans([_span(3, 3, attributes={"n": 5.0})])
        found = store.find_trace_ids(TraceQuery(tags={"n": "5"}))
        assert sorted(found) == [f"{1:032x}", f"{2:032x}"]
        assert store.find_trace_ids(TraceQuery(tags={"n": "5.0"})) == [f"{3:032x}"]


def test_events_read_back_exactly_whatever_their_times(tmp_path: Path) -> None:
    events = (
        Event(500, "before the start", {"inf": float("inf"), "bytes": b"\x00"}),
        Event(1_000, "at the start", {"nested": {"list": [1, "two", None]}}, 2),
        Event(2**64 - 1, "latest possible"),
    )
    spans = [
        _span(1, 1, events=events[:2]),
        _span(1, 2, events=events),  # the last offset does not fit: stored as sent
        _span(1, 3, events=(Event(2**63 - 1, "far later"),)),
        # DuckDB writes 1e-07 as 1e-7 and escapes control characters its own way: as sent.
        _span(1, 4, events=(Event(5_000, "small", {"f": 1e-07}),)),
        _span(1, 5, events=(Event(6_000, "big", {"i": 2**70, "s": "\u00e9"}),)),
        _span(1, 6, events=(Event(7_000, "control", {"s": "\x1f"}),)),
    ]
    with DuckDBStore(tmp_path / "traces.duckdb") as store:
        store.write_spans(spans)
        trace = store.get_trace(f"{1:032x}")
    assert trace == Trace(f"{1:032x}", tuple(spans))
    offsets = _column(
        tmp_path / "traces.duckdb", "SELECT event_offsets_ns FROM spans ORDER BY span_id"
    )
    assert offsets == [[-500, 0], None, [2**63 - 1 - 3_000], None, [1_000], None]


def test_traces_sharing_a_key_stay_apart(tmp_path: Path) -> None:
    # The trace key is the low 32 bits of the id: these two share it.
    old, new = 0xA << 96 | 0x1234, 0xB << 96 | 0x1234
    caller, callee = Resource({"service.name": "a"}), Resource({"service.name": "b"})
    old_spans = [
        _span(old, 1, resource=caller),
        _span(old, 2, parent_span_id=f"{1:016x}", resource=callee),
    ]
    new_spans = [_span(new, 3, start_time_unix_nano=10**9, end_time_unix_nano=10**9 + 1)]
    with DuckDBStore(tmp_path / "traces.duckdb") as store:
        store.write_spans(old_spans)
        store.write_spans(new_spans)
        assert store.get_trace(f"{old:032x}") == Trace(f"{old:032x}", tuple(old_spans))
        assert store.get_trace(f"{new:032x}") == Trace(f"{new:032x}", tuple(new_spans))
        assert store.get_trace(f"{0xC << 96 | 0x1234:032x}") is None
        assert store.get_dependencies(0, 10_000) == [DependencyLink("a", "b", 1, 0, 500)]
        # The old trace is past the cutoff, but goes only with the one sharing its key.
        assert store.delete_traces_before(10**6) == 0
        assert store.get_trace(f"{old:032x}") is not None
        assert store.delete_traces_before(2 * 10**9) == 3
        assert store.get_trace(f"{old:032x}") is None
        assert store.get_trace(f"{new:032x}") is None


def test_the_split_keeps_every_entry_of_sliced_and_chunked_batches() -> None:
    rows: list[list[str] | None] = [
        [f"route\x1fs/r{n % 2}", f"user\x1fsu{n}", "odd\x1fsa\x1eb"] if n % 5 else None
        for n in range(200)
    ]
    column = pa.array(rows, pa.list_(pa.string()))
    for attributes in (column.slice(7, 150), pa.chunked_array([column[:90], column[90:]])):
        split = split_entries(attributes)
        expected = attributes.to_pylist()
        assert split.with_rs is not None
        assert len(split.common) == len(split.varying) == len(split.with_rs) == len(expected)
        for common, varying, with_rs, original in zip(
            split.common.to_pylist(),
            split.varying.to_pylist(),
            split.with_rs.to_pylist(),
            expected,
            strict=True,
        ):
            # Common entries first, then the varying ones, then those holding an RS.
            assert entries(common, varying, with_rs) == (original or [])
        assert set(split.types) == {("route", "s"), ("user", "s"), ("odd", "s")}


def test_a_batch_is_stored_trace_by_trace_in_order_of_first_start(tmp_path: Path) -> None:
    path = tmp_path / "traces.duckdb"
    # Traces 2 and 3 start together (trace id decides), trace 1 later; ids and starts
    # above 2**63 and 2**127 check that they order as unsigned numbers.
    big = 2**127 + 5
    spans = [
        _span(1, 9, start_time_unix_nano=30_000, end_time_unix_nano=30_001),
        _span(3, 2**63 + 1, start_time_unix_nano=10_000, end_time_unix_nano=10_001),
        _span(big, 7, start_time_unix_nano=10_000, end_time_unix_nano=10_001),
        _span(1, 4, start_time_unix_nano=20_000, end_time_unix_nano=20_001),
        _span(3, 2, start_time_unix_nano=10_000, end_time_unix_nano=10_001),
        _span(big, 6, start_time_unix_nano=50_000, end_time_unix_nano=50_001),
    ]
    with DuckDBStore(path) as store:
        store.write_spans(spans)
    stored = [
        (int(trace), int(span))
        for trace, span in zip(
            _column(path, "SELECT trace_id::VARCHAR FROM spans"),
            _column(path, "SELECT span_id::VARCHAR FROM spans"),
            strict=True,
        )
    ]
    assert stored == [(3, 2), (3, 2**63 + 1), (big, 7), (big, 6), (1, 4), (1, 9)]
    starts = _column(path, "SELECT start_min_ns FROM traces")
    assert starts == [10_000, 10_000, 20_000]


def test_a_parent_in_the_batch_is_found_in_its_own_trace_when_span_ids_repeat(
    tmp_path: Path,
) -> None:
    path = tmp_path / "traces.duckdb"
    front, back = Resource({"service.name": "front"}), Resource({"service.name": "back"})
    spans = [
        _span(1, 1, resource=front),
        _span(1, 2, parent_span_id=f"{1:016x}", resource=back),
        _span(2, 1, resource=back),  # the same span ids in another trace
        _span(2, 2, parent_span_id=f"{1:016x}", resource=front),
        _span(3, 2, parent_span_id=f"{1:016x}", resource=front),  # its parent is not written
    ]
    with DuckDBStore(path) as store:
        store.write_spans(spans)
    resource_ids = dict(
        zip(
            _column(path, "SELECT service_name FROM resources"),
            _column(path, "SELECT resource_id FROM resources"),
            strict=True,
        )
    )
    parents = _column(
        path,
        "SELECT parent_resource_id FROM spans WHERE span_id = 2 ORDER BY trace_id",
    )
    assert parents == [resource_ids["front"], resource_ids["back"], 0]
