"""A file of an older schema version is brought to the current one when opened, losing nothing.

The version 3 files here are made from version 4 ones by undoing the migration in
SQL, so that they hold exactly what traceway 3 wrote for these spans: each span's
common attribute entries as a text in its row (``attributes_common``).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from traceway.model import Resource, Span, Trace
from traceway.storage.api import StorageError, TraceQuery
from traceway.storage.duckdb import DuckDBStore
from traceway.storage.duckdb import schema as duckdb_schema
from traceway.storage.duckdb.attribute_columns import REPEATS_FOR_COMMON
from traceway.storage.duckdb.schema import SCHEMA_VERSION, stored_schema_version

_BACK_TO_3 = """
ALTER TABLE spans ADD COLUMN attributes_common VARCHAR DEFAULT '';
UPDATE spans SET attributes_common = a.entries
FROM attribute_sets a WHERE spans.attribute_set_id = a.set_id;
ALTER TABLE spans DROP COLUMN attribute_set_id;
DROP TABLE attribute_sets;
UPDATE traceway_meta SET value = '3' WHERE key = 'schema_version';
"""


def _span(trace: int, number: int, attributes: dict[str, object]) -> Span:
    return Span(
        f"{trace:032x}",
        f"{number:016x}",
        "op",
        1_000 * number,
        1_000 * number + 500,
        attributes=attributes,
        resource=Resource({"service.name": "svc"}),
    )


def _batches() -> list[list[Span]]:
    """Spans with common entries of two sets, and spans with none."""
    count = 2 * REPEATS_FOR_COMMON
    return [
        [_span(1, n, {"route": "/a", "user": f"u{n}"}) for n in range(1, count + 1)],
        [_span(2, 100 + n, {"route": "/b" if n % 2 else "/a"}) for n in range(count)]
        + [_span(3, 200, {"only": "one"}), _span(3, 201, {})],
    ]


def _version_3_file(path: Path) -> dict[str, Trace]:
    """A version 3 file of ``_batches``; its traces as written."""
    with DuckDBStore(path) as store:
        for batch in _batches():
            store.write_spans(batch)
        traces = {}
        for trace in (1, 2, 3):
            found = store.get_trace(f"{trace:032x}")
            assert found is not None
            traces[found.trace_id] = found
    with duckdb.connect(str(path)) as con:
        con.execute(_BACK_TO_3)
        assert con.execute("SELECT count(DISTINCT attributes_common) FROM spans").fetchall() == [
            (3,)  # the two sets and the empty text
        ]
    return traces


def test_a_version_3_file_opens_with_every_span_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "traces.duckdb"
    written = _version_3_file(path)
    assert stored_schema_version(path) == "3"
    with DuckDBStore(path) as store:
        for trace_id, trace in written.items():
            assert store.get_trace(trace_id) == trace
        assert sorted(store.find_trace_ids(TraceQuery(tags={"route": "/b"}))) == [f"{2:032x}"]
        assert store.find_trace_ids(TraceQuery(tags={"only": "one"})) == [f"{3:032x}"]
        # The sets it found are known to the writer: the same entries use them again.
        store.write_spans(_batches()[0][:REPEATS_FOR_COMMON])
    with duckdb.connect(str(path), read_only=True) as con:
        sets = con.execute("SELECT set_id, entries FROM attribute_sets ORDER BY 1").fetchall()
        columns = [row[0] for row in con.execute("DESCRIBE spans").fetchall()]
    assert stored_schema_version(path) == str(SCHEMA_VERSION)
    assert sets == [(1, "\x1eroute\x1fs/a\x1e"), (2, "\x1eroute\x1fs/b\x1e")]
    assert "attributes_common" not in columns


def test_a_migration_that_fails_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "traces.duckdb"
    written = _version_3_file(path)
    broken = duckdb_schema.MIGRATIONS["3"] + "SELECT no_such_column FROM spans;"
    monkeypatch.setitem(duckdb_schema.MIGRATIONS, "3", broken)
    with pytest.raises(StorageError, match="no_such_column"):
        DuckDBStore(path)
    assert stored_schema_version(path) == "3"
    monkeypatch.undo()
    with DuckDBStore(path) as store:
        for trace_id, trace in written.items():
            assert store.get_trace(trace_id) == trace
