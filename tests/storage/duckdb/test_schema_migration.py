"""A file of an older schema version is brought to the current one when opened, losing nothing.

The older files here are made from current ones by undoing the migrations in SQL, so
that they hold what those versions wrote for these spans: in version 4, a span's
varying attribute entries as a list (``attributes_varying``); in version 3, also its
common entries as a text in its row (``attributes_common``).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from traceway.model import Event, Resource, Span, Trace
from traceway.storage.api import StorageError, TraceQuery
from traceway.storage.duckdb import DuckDBStore
from traceway.storage.duckdb import schema as duckdb_schema
from traceway.storage.duckdb.attribute_columns import REPEATS_FOR_COMMON
from traceway.storage.duckdb.schema import SCHEMA_VERSION, stored_schema_version

_BACK_TO_4 = """
ALTER TABLE spans RENAME COLUMN attributes_varying TO varying_text;
ALTER TABLE spans ADD COLUMN attributes_varying VARCHAR[] DEFAULT [];
ALTER TABLE spans ALTER COLUMN attributes_varying SET NOT NULL;
UPDATE spans SET attributes_varying = list_concat(
    CASE WHEN varying_text = '' THEN []
         ELSE string_split(substr(varying_text, 2, length(varying_text) - 2), chr(30)) END,
    coalesce(attributes_with_rs, []));
ALTER TABLE spans DROP COLUMN varying_text;
ALTER TABLE spans DROP COLUMN attributes_with_rs;
UPDATE traceway_meta SET value = '4' WHERE key = 'schema_version';
"""
_BACK_TO_3 = """
ALTER TABLE spans ADD COLUMN attributes_common VARCHAR DEFAULT '';
UPDATE spans SET attributes_common = a.entries
FROM attribute_sets a WHERE spans.attribute_set_id = a.set_id;
ALTER TABLE spans DROP COLUMN attribute_set_id;
DROP TABLE attribute_sets;
UPDATE traceway_meta SET value = '3' WHERE key = 'schema_version';
"""


def _span(trace: int, number: int, attributes: dict[str, object], *events: Event) -> Span:
    return Span(
        f"{trace:032x}",
        f"{number:016x}",
        "op",
        1_000 * number,
        1_000 * number + 500,
        attributes=attributes,
        resource=Resource({"service.name": "svc"}),
        events=events,
    )


def _batches() -> list[list[Span]]:
    """Spans with common entries of two sets, and spans with none; with varying entries,
    an entry holding an RS, and events split in Python and by DuckDB."""
    count = 2 * REPEATS_FOR_COMMON
    return [
        [
            _span(1, n, {"route": "/a", "user": f"u{n}"}, Event(1_000 * n + 7, "sent"))
            for n in range(1, count + 1)
        ],
        [_span(2, 100 + n, {"route": "/b" if n % 2 else "/a"}) for n in range(count)]
        + [
            _span(3, 200, {"only": "one", "odd": "a\x1eb"}, Event(1, "f", {"f": 1e-07})),
            _span(3, 201, {}, Event(201_100, "a"), Event(201_000, "b")),
        ],
    ]


def _older_file(path: Path, version: int) -> dict[str, Trace]:
    """A file of ``_batches`` at schema ``version`` (3 or 4); its traces as written."""
    with DuckDBStore(path) as store:
        for batch in _batches():
            store.write_spans(batch)
        traces = {}
        for trace in (1, 2, 3):
            found = store.get_trace(f"{trace:032x}")
            assert found is not None
            traces[found.trace_id] = found
    with duckdb.connect(str(path)) as con:
        con.execute(_BACK_TO_4)
        if version == 3:
            con.execute(_BACK_TO_3)
            assert con.execute(
                "SELECT count(DISTINCT attributes_common) FROM spans"
            ).fetchall() == [(3,)]  # the two sets and the empty text
    assert stored_schema_version(path) == str(version)
    return traces


def test_a_version_4_file_opens_with_every_span_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "traces.duckdb"
    written = _older_file(path, 4)
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute(
            "SELECT attributes_varying FROM spans WHERE span_id IN (3, 200) ORDER BY span_id"
        ).fetchall() == [(["user\x1fsu3"],), (["only\x1fsone", "odd\x1fsa\x1eb"],)]
    with DuckDBStore(path) as store:
        for trace_id, trace in written.items():
            assert store.get_trace(trace_id) == trace
        for tags, trace in (({"user": "u3"}, 1), ({"route": "/b"}, 2), ({"odd": "a\x1eb"}, 3)):
            assert store.find_trace_ids(TraceQuery(tags=tags)) == [f"{trace:032x}"]
    with duckdb.connect(str(path), read_only=True) as con:
        (column_type,) = con.execute(
            "SELECT data_type FROM duckdb_columns() "
            "WHERE table_name = 'spans' AND column_name = 'attributes_varying'"
        ).fetchone() or (None,)
        stored = con.execute(
            "SELECT attributes_varying, attributes_with_rs, event_offsets_ns FROM spans "
            "WHERE span_id IN (3, 200, 201) ORDER BY span_id"
        ).fetchall()
    assert stored_schema_version(path) == str(SCHEMA_VERSION)
    assert column_type == "VARCHAR"
    assert stored == [
        ("\x1euser\x1fsu3\x1e", None, [7]),
        ("\x1eonly\x1fsone\x1e", ["odd\x1fsa\x1eb"], None),  # the float's event: as sent
        ("", None, [100, 0]),
    ]


def test_a_version_3_file_opens_with_every_span_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "traces.duckdb"
    written = _older_file(path, 3)
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


@pytest.mark.parametrize(("version", "failing"), [(3, "3"), (3, "4"), (4, "4")])
def test_a_migration_that_fails_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int, failing: str
) -> None:
    path = tmp_path / "traces.duckdb"
    written = _older_file(path, version)
    broken = duckdb_schema.MIGRATIONS[failing] + "SELECT no_such_column FROM spans;"
    monkeypatch.setitem(duckdb_schema.MIGRATIONS, failing, broken)
    with pytest.raises(StorageError, match="no_such_column"):
        DuckDBStore(path)
    assert stored_schema_version(path) == str(version)
    monkeypatch.undo()
    with DuckDBStore(path) as store:
        for trace_id, trace in written.items():
            assert store.get_trace(trace_id) == trace
