"""``traceway demo`` sets a store of another schema version aside instead of failing."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from traceway.commands.demo import _set_aside_older_store
from traceway.server import DATABASE_FILE
from traceway.storage.api import StorageError
from traceway.storage.duckdb import DuckDBStore
from traceway.storage.duckdb.schema import MIGRATIONS, SCHEMA_VERSION, stored_schema_version


def old_store(path: Path, version: str = "2") -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE traceway_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT INTO traceway_meta VALUES ('schema_version', ?)", [version])
        con.execute("CREATE TABLE spans (note VARCHAR)")
        con.execute("INSERT INTO spans VALUES ('kept')")


def test_the_version_of_a_store_is_read_without_opening_it_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "t.duckdb"
    assert stored_schema_version(path) is None
    DuckDBStore(path).close()
    assert stored_schema_version(path) == str(SCHEMA_VERSION)
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    assert stored_schema_version(other) is None
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(StorageError, match=r"junk\.duckdb"):
        stored_schema_version(junk)


def test_an_older_store_is_moved_aside_whole_and_a_new_one_opens(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_FILE
    old_store(path)
    moved = _set_aside_older_store(tmp_path)
    assert moved == tmp_path / f"{DATABASE_FILE}.schema-2"
    assert not path.exists()
    with duckdb.connect(str(moved), read_only=True) as con:
        assert con.execute("SELECT note FROM spans").fetchall() == [("kept",)]
    DuckDBStore(path).close()  # the backend can now start


def test_a_current_store_or_none_is_left_alone(tmp_path: Path) -> None:
    assert _set_aside_older_store(tmp_path) is None
    DuckDBStore(tmp_path / DATABASE_FILE).close()
    assert _set_aside_older_store(tmp_path) is None
    assert stored_schema_version(tmp_path / DATABASE_FILE) == str(SCHEMA_VERSION)


def test_a_store_set_aside_before_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_FILE
    old_store(path)
    first = _set_aside_older_store(tmp_path)
    old_store(path)
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE spans SET note = 'second'")
    second = _set_aside_older_store(tmp_path)
    assert first == tmp_path / f"{DATABASE_FILE}.schema-2"
    assert second == tmp_path / f"{DATABASE_FILE}.schema-2-2"
    for moved, note in ((first, "kept"), (second, "second")):
        with duckdb.connect(str(moved), read_only=True) as con:
            assert con.execute("SELECT note FROM spans").fetchall() == [(note,)]


def test_a_store_traceway_can_migrate_is_left_for_it_to_migrate(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_FILE
    DuckDBStore(path).close()
    with duckdb.connect(str(path)) as con:
        con.execute(
            "UPDATE traceway_meta SET value = ? WHERE key = 'schema_version'",
            [next(iter(MIGRATIONS))],
        )
    assert _set_aside_older_store(tmp_path) is None
    assert path.exists()
