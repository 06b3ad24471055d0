"""Two threads writing to one DuckDB store at once: side by side, and still idempotent.

A write can be held inside its commit (``HeldCommit``) so that another is prepared
while it is in flight, and made to fail there once released.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from traceway.model import Resource, Span
from traceway.storage.api import StorageError
from traceway.storage.duckdb import DuckDBStore
from traceway.storage.duckdb import writer as span_writer

SVC = Resource({"service.name": "svc"})


def _span(number: int, resource: Resource = SVC, trace: int = 1) -> Span:
    return Span(f"{trace:032x}", f"{number:016x}", f"op-{number}", 1_000, 2_000, resource=resource)


class HeldCommit:
    """The first write to reach DuckDB waits there until ``release``; it then commits,
    or fails as a full disk would if ``fail`` is set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reached = threading.Event()
        self.released = threading.Event()
        self.fail = False
        self._taken = False
        commit = span_writer._commit

        def held(con: duckdb.DuckDBPyConnection, write: object) -> None:
            if not self._taken:
                self._taken = True
                self.reached.set()
                assert self.released.wait(10)
                if self.fail:
                    raise duckdb.IOException("no space left on device")
            commit(con, write)  # type: ignore[arg-type]

        monkeypatch.setattr(span_writer, "_commit", held)


class Running:
    """A call on a thread of its own, its error kept for the test to see."""

    def __init__(self, call: Callable[[], object]) -> None:
        self.error: BaseException | None = None

        def run() -> None:
            try:
                call()
            except BaseException as error:
                self.error = error

        self._thread = threading.Thread(target=run)
        self._thread.start()

    def finished_within(self, seconds: float) -> bool:
        self._thread.join(seconds)
        return not self._thread.is_alive()

    def result(self) -> None:
        assert self.finished_within(10)
        if self.error is not None:
            raise self.error


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    with DuckDBStore(tmp_path / "traces.duckdb") as opened:
        opened.write_spans([_span(100)])  # its resource is stored: later batches add none
        yield opened


def _stored(store: DuckDBStore) -> list[tuple[str, int]]:
    """(service, span number) of every stored span row, duplicates included."""
    with store._cursor() as cursor:
        rows = cursor.execute(
            "SELECT r.service_name, s.span_id FROM spans s "
            "JOIN resources r USING (resource_id) ORDER BY ALL"
        ).fetchall()
    return [(service, int(span_id)) for service, span_id in rows]


def test_writes_that_share_nothing_commit_side_by_side(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldCommit(monkeypatch)
    first = Running(lambda: store.write_spans([_span(1), _span(2)]))
    assert held.reached.wait(10)
    second = Running(lambda: store.write_spans([_span(3), _span(4)]))
    assert second.finished_within(10), "the second write waited for the first"
    second.result()
    held.released.set()
    first.result()
    assert _stored(store) == [("svc", n) for n in (1, 2, 3, 4, 100)]


@pytest.mark.parametrize("fails", [False, True], ids=["it commits", "it fails"])
def test_a_span_sent_again_while_its_first_write_is_in_flight_is_stored_once(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    held = HeldCommit(monkeypatch)
    held.fail = fails
    first = Running(lambda: store.write_spans([_span(1), _span(2), _span(3)]))
    assert held.reached.wait(10)
    again = Running(lambda: store.write_spans([_span(2), _span(3), _span(4)]))
    assert not again.finished_within(0.2), "it did not wait for the write holding its spans"
    held.released.set()
    if fails:
        with pytest.raises(StorageError, match="no space left on device"):
            first.result()
    else:
        first.result()
    again.result()
    expected = [2, 3, 4, 100] if fails else [1, 2, 3, 4, 100]
    assert _stored(store) == [("svc", n) for n in expected]


@pytest.mark.parametrize("fails", [False, True], ids=["it commits", "it fails"])
def test_a_resource_that_a_write_in_flight_adds_is_stored_once_whatever_that_write_becomes(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    new = Resource({"service.name": "new"})
    held = HeldCommit(monkeypatch)
    held.fail = fails
    first = Running(lambda: store.write_spans([_span(1, new)]))
    assert held.reached.wait(10)
    second = Running(lambda: store.write_spans([_span(2, new)]))
    assert not second.finished_within(0.2), "it did not wait for the write adding its resource"
    held.released.set()
    if fails:
        with pytest.raises(StorageError):
            first.result()
    else:
        first.result()
    second.result()
    with store._cursor() as cursor:
        assert cursor.execute(
            "SELECT count(*) FROM resources WHERE service_name = 'new'"
        ).fetchall() == [(1,)]
    assert _stored(store) == [*([("new", 1)] if not fails else []), ("new", 2), ("svc", 100)]
    trace = store.get_trace(f"{1:032x}")
    assert trace is not None
    assert {span.span_id: span.resource for span in trace.spans}[f"{2:016x}"] == new
    assert store.get_services() == ["new", "svc"]


def test_closing_waits_for_the_writes_in_flight_and_refuses_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "traces.duckdb"
    store = DuckDBStore(path)
    held = HeldCommit(monkeypatch)
    writing = Running(lambda: store.write_spans([_span(1)]))
    assert held.reached.wait(10)
    closing = Running(store.close)
    assert not closing.finished_within(0.2), "it closed under a write in flight"
    held.released.set()
    writing.result()
    closing.result()
    with pytest.raises(StorageError, match="is closed"):
        store.write_spans([_span(2)])
    with DuckDBStore(path) as reopened:
        assert _stored(reopened) == [("svc", 1)]


def test_two_threads_sending_overlapping_batches_store_each_span_and_row_once(
    tmp_path: Path,
) -> None:
    resources = [Resource({"service.name": f"svc-{n}"}) for n in range(4)]
    spans = [
        Span(
            f"{n % 7 + 1:032x}",
            f"{n:016x}",
            f"op-{n % 11}",
            1_000 + n % 5,
            2_000,
            resource=resources[n % 4],
            attributes={f"key-{n % 9}": n if n % 2 else str(n)},
        )
        for n in range(1, 301)
    ]

    def batches(seed: int) -> list[list[Span]]:
        chosen = random.Random(seed)
        return [chosen.sample(spans, 40) for _ in range(25)]

    with DuckDBStore(tmp_path / "traces.duckdb") as store:
        writers = [
            Running(lambda seed=seed: [store.write_spans(b) for b in batches(seed)])
            for seed in (1, 2)
        ]
        for writer in writers:
            writer.result()
        sent = {span.span_id for seed in (1, 2) for batch in batches(seed) for span in batch}
        stored = _stored(store)  # joined with its resource: none is missing
        assert len(stored) == len(set(stored)) == len(sent)
        with store._cursor() as cursor:
            for table, distinct in [
                ("resources", "content_key"),
                ("operations", "service_name, name, kind"),
                ("attribute_types", "key, type"),
            ]:
                rows = f"SELECT count(*), count(DISTINCT ({distinct})) FROM {table}"
                ((count, different),) = cursor.execute(rows).fetchall()
                assert count == different, f"a row of {table} was stored twice"
