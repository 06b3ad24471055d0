"""DuckDB-specific behaviour: what is on disk, literal tag search, and errors as StorageError."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import duckdb
import pytest

from tests.storage.fixture_data import load_spans
from traceway.model import Resource, Span
from traceway.storage import open_store
from traceway.storage.api import OperationQuery, StorageError, TraceQuery
from traceway.storage.duckdb import DuckDBStore
from traceway.storage.duckdb.store import BLOCK_SIZE, CONFIG
from traceway.storage.memory import MemoryStore


def _span(number: int, **changes: object) -> Span:
    span = Span(
        f"{number:032x}",
        f"{number:016x}",
        "op",
        number,
        number + 1,
        resource=Resource({"service.name": "svc"}),
    )
    return dataclasses.replace(span, **changes)  # type: ignore[arg-type]


def _count(path: Path, table: str) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_each_span_and_each_resource_is_one_row(tmp_path: Path) -> None:
    path = tmp_path / "traces.duckdb"
    spans = load_spans()
    with DuckDBStore(path) as store:
        store.write_spans(spans + spans[:5])
        store.write_spans(spans)
        store.write_spans(load_spans())  # equal content in new objects
    assert _count(path, "spans") == len(spans)
    assert _count(path, "resources") == len({repr(span.resource) for span in spans})
    assert _count(path, "scopes") == len({repr(span.scope) for span in spans})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("note", "' OR 1=1 --"),
        ("note", "'; DROP TABLE spans; --"),
        ("note", "100%"),
        ("note", "a_b"),
        ("it's", '"quoted"'),
        ("note", "k\x1fv\x1e"),
    ],
)
def test_tag_search_finds_exactly_the_literal_value(key: str, value: str) -> None:
    near_misses = [
        value + " ",
        " " + value,
        value.upper(),
        value.replace("%", "x").replace("_", "x"),
        "x",
        "",
    ]
    spans = [_span(1, attributes={key: value})] + [
        _span(number, attributes={key: other})
        for number, other in enumerate(near_misses, start=2)
        if other != value
    ]
    with DuckDBStore(None) as store:
        store.write_spans(spans)
        assert store.find_trace_ids(TraceQuery(tags={key: value})) == [f"{1:032x}"]
        assert len(store.find_trace_ids(TraceQuery(limit=100))) == len(spans)


@pytest.mark.parametrize(
    ("attributes", "tags"),
    [
        # Unescaped, the value would read as a second attribute "k" with value "v".
        ({"a": "x\x1ek\x1fv"}, {"k": "v"}),
        # Unescaped, key "a" with value "b<US>c" would read as key "a<US>b" with value "c".
        ({"a": "b\x1fc"}, {"a\x1fb": "c"}),
        ({"a\x1fb": "c"}, {"a": "b\x1fc"}),
        # Unescaped escapes would make ESC "^" read as an escaped RS.
        ({"a": "\x1e"}, {"a": "\x1b^"}),
        ({"a": "\x1b^"}, {"a": "\x1e"}),
    ],
)
def test_control_characters_in_tags_cannot_fake_a_match(
    attributes: dict[str, str], tags: dict[str, str]
) -> None:
    with DuckDBStore(None) as store:
        store.write_spans([_span(1, attributes=attributes)])
        assert store.find_trace_ids(TraceQuery(tags=tags)) == []
        assert store.find_trace_ids(TraceQuery(tags=attributes)) == [f"{1:032x}"]


def test_open_store_opens_a_file_or_memory(tmp_path: Path) -> None:
    in_memory = open_store(None)
    in_file = open_store(tmp_path / "traces.duckdb")
    for store in (in_memory, in_file):
        store.write_spans([_span(1)])
        assert store.get_services() == ["svc"]
        store.close()
    assert (tmp_path / "traces.duckdb").exists()
    assert not isinstance(in_memory, MemoryStore)


def test_not_a_duckdb_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "traces.duckdb"
    path.write_text("these are not the traces you are looking for\n" * 200)
    with pytest.raises(StorageError, match=r"traces\.duckdb"):
        DuckDBStore(path)


def test_a_path_inside_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageError, match="cannot open trace store"):
        DuckDBStore(tmp_path / "file" / "traces.duckdb")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only directories")
def test_a_read_only_directory_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "read-only"
    directory.mkdir()
    directory.chmod(0o500)
    try:
        with pytest.raises(StorageError, match="cannot open trace store"):
            DuckDBStore(directory / "traces.duckdb")
    finally:
        directory.chmod(0o700)


def _block_size(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()
    assert row is not None
    return int(row[0])


def test_a_new_file_has_small_blocks_and_a_file_with_the_default_ones_still_works(
    tmp_path: Path,
) -> None:
    new, old = tmp_path / "new.duckdb", tmp_path / "old.duckdb"
    with DuckDBStore(new) as store:
        store.write_spans([_span(1)])
    assert _block_size(new) == BLOCK_SIZE != 262_144
    duckdb.connect(str(old)).close()  # DuckDB's default block size
    for _ in range(2):  # a new file, then one with spans
        with DuckDBStore(old) as store:
            store.write_spans([_span(2)])
            assert store.get_trace(f"{2:032x}") is not None
    assert _block_size(old) == 262_144
    assert _count(old, "spans") == 1


def test_a_file_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "traces.duckdb"
    DuckDBStore(path).close()
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE traceway_meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(
        StorageError,
        match=r"cannot open trace store .*traces\.duckdb: it has schema version 999 and",
    ):
        DuckDBStore(path)


# The batch's statements run in this order in one transaction: a failure at the first,
# after the spans, or at the last stores nothing of it.
@pytest.mark.parametrize("table", ["resources", "traces", "operations"])
def test_a_failed_write_stores_nothing_and_the_store_goes_on(tmp_path: Path, table: str) -> None:
    path = tmp_path / "traces.duckdb"
    first, batch = _span(1), [_span(2, resource=Resource({"service.name": "new"})), _span(3)]
    with DuckDBStore(path) as store:
        store.write_spans([first])
        # Another connection to the same file in this process shares its catalog: take
        # away a table the batch writes to, so that its statement fails.
        with duckdb.connect(str(path), config=CONFIG) as con:
            con.execute(f"ALTER TABLE {table} RENAME TO away")
            with pytest.raises(StorageError, match=r"writing 2 spans to .*traces.duckdb failed"):
                store.write_spans(batch)
            con.execute(f"ALTER TABLE away RENAME TO {table}")
            assert con.execute("SELECT count(*) FROM resources").fetchone() == (1,)
            assert con.execute("SELECT count(*) FROM spans").fetchone() == (1,)
        assert store.get_services() == ["svc"]
        store.write_spans(batch)
        assert store.get_services() == ["new", "svc"]


def test_ids_reused_with_another_start_time_read_back_as_the_first_span(tmp_path: Path) -> None:
    first = _span(1, name="first")
    with DuckDBStore(tmp_path / "traces.duckdb") as store:
        store.write_spans([first])
        store.write_spans(
            [_span(1, name="later", start_time_unix_nano=first.start_time_unix_nano + 5)]
        )
        store.write_spans([_span(1, name="again")])  # the same start: not stored at all
        trace = store.get_trace(first.trace_id)
        assert trace is not None
        assert trace.spans == (first,)
        assert [t.spans for t in store.find_traces(TraceQuery())] == [(first,)]
    assert _count(tmp_path / "traces.duckdb", "spans") == 2


def test_a_batch_of_many_new_names_keys_and_resources_is_listed_whole(tmp_path: Path) -> None:
    count = 3000
    spans = [
        _span(
            number,
            name=f"op {number}",
            attributes={f"key.{number}": number},
            resource=Resource({"service.name": f"svc {number % 7}", "host.id": str(number)}),
        )
        for number in range(1, count + 1)
    ]
    with DuckDBStore(tmp_path / "traces.duckdb") as store:
        store.write_spans(spans)
        services = store.get_services()
        names = {op.name for s in services for op in store.get_operations(OperationQuery(s))}
        found = store.find_trace_ids(TraceQuery(tags={"key.2999": "2999"}, limit=5))
    assert services == [f"svc {n}" for n in range(7)]
    assert names == {f"op {number}" for number in range(1, count + 1)}
    assert found == [f"{2999:032x}"]
    assert _count(tmp_path / "traces.duckdb", "resources") == count
