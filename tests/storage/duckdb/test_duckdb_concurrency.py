"""Readers on their own threads while one thread writes to the same DuckDB file."""

from __future__ import annotations

import threading
from pathlib import Path

from traceway.model import Resource, Span, Trace
from traceway.storage.api import TraceQuery
from traceway.storage.duckdb import DuckDBStore

BATCHES = 40
SPANS_PER_BATCH = 25


def _batch(number: int) -> list[Span]:
    """One whole trace per batch, so a reader that sees part of a batch sees a torn write."""
    trace_id = f"{number + 1:032x}"
    resource = Resource({"service.name": f"service-{number % 3}"})
    return [
        Span(
            trace_id,
            f"{number * 1000 + index + 1:016x}",
            f"op-{index}",
            1_000 + number,
            2_000 + number,
            resource=resource,
            attributes={"batch": number, "index": index},
        )
        for index in range(SPANS_PER_BATCH)
    ]


def test_readers_see_whole_batches_while_a_writer_writes(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    torn: list[Trace] = []
    reads: list[int] = []
    writing = threading.Event()
    writing.set()

    def read_until_written(store: DuckDBStore) -> None:
        try:
            while writing.is_set():
                for trace in store.find_traces(TraceQuery(limit=BATCHES)):
                    if len(trace.spans) != SPANS_PER_BATCH:
                        torn.append(trace)
                store.get_services()
                first = store.get_trace(f"{1:032x}")
                if first is not None and len(first.spans) != SPANS_PER_BATCH:
                    torn.append(first)
                reads.append(1)
        except BaseException as error:  # reported by the main thread below
            errors.append(error)

    with DuckDBStore(tmp_path / "traces.duckdb") as store:
        readers = [threading.Thread(target=read_until_written, args=(store,)) for _ in range(3)]
        for reader in readers:
            reader.start()
        try:
            for number in range(BATCHES):
                store.write_spans(_batch(number))
        finally:
            writing.clear()
            for reader in readers:
                reader.join()
        assert errors == []
        assert torn == []
        assert reads  # the readers did read while batches were being written
        found = store.find_traces(TraceQuery(limit=BATCHES + 1))
        assert sorted(trace.trace_id for trace in found) == [
            f"{number + 1:032x}" for number in range(BATCHES)
        ]
        assert all(len(trace.spans) == SPANS_PER_BATCH for trace in found)
