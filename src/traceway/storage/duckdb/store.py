"""``DuckDBStore``: traces in one embedded DuckDB file, the backend of ``traceway serve``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb

from traceway.model import Span, Trace
from traceway.storage.api import (
    DependencyLink,
    Operation,
    OperationQuery,
    OperationStats,
    StatsQuery,
    StorageError,
    TraceQuery,
)
from traceway.storage.duckdb import aggregates, deletion, reader
from traceway.storage.duckdb.rows import ReferenceRows
from traceway.storage.duckdb.schema import ensure_schema
from traceway.storage.duckdb.transaction import transaction
from traceway.storage.duckdb.windows import TimeRange
from traceway.storage.duckdb.writer import CONCURRENT_WRITES, SpanWriter, WriterClosedError
from traceway.storage.span_batch import span_batch_of

__all__ = ["DuckDBStore"]

_T = TypeVar("_T")

BLOCK_SIZE = 131_072
"""Bytes per block of a file this store creates (DuckDB's default is 256 KiB; a file
keeps the block size it was made with, and DuckDB reads any). Reading one trace loads,
of each column, the block that holds its spans: half the bytes with these, which
counts when they come from disk. In ``bench/query.py``'s 10 M store, its pages dropped
from the OS cache, trace by id took 12.6-16.2 against 15.7-20.2 ms (median of 20
reads, four alternating runs), in less room (46.8 against 47.8 bytes per span; a new
store's small tables fill smaller blocks too). Scans pay a little, having more
segments to start: interleaved, a search by a rare attribute value took 196 against
183 ms. 64 KiB blocks read a trace hardly faster and made that search 206 ms; 16 KiB
blocks took 43% more room."""
CONFIG: dict[str, str | bool | int | float | list[str]] = {"default_block_size": str(BLOCK_SIZE)}
"""What DuckDB is given when the store connects. Another connection to the file in this
process must be given the same: DuckDB refuses a second configuration of one file."""
MEMORY_LIMIT = "512MB"
"""DuckDB's buffer pool (caches and query memory) may not grow past this; it spills."""
CHECKPOINT_THRESHOLD = "256MB"
"""Write-ahead log size that triggers a checkpoint (DuckDB's default is 16MB). Fewer,
larger checkpoints compress whole row groups once instead of rewriting partial ones:
about 40% less insert time and disk. The cost: up to this much log to replay after a
crash, and the spans in it kept uncompressed in memory until the checkpoint."""


def _explain(error: duckdb.Error) -> str:
    message = str(error)
    if "lock" in message.lower():
        message += " (is another traceway process using this file?)"
    return message


class DuckDBStore:
    """Spans in a DuckDB file, or in memory when ``path`` is None.

    Up to ``concurrent_writes`` threads may write at once (``SpanWriter``); every read
    runs on a cursor of its own, so reads proceed while batches are being written and
    see only committed batches. Each ``write_spans`` is one transaction, committed to
    DuckDB's write-ahead log before it returns. DuckDB errors leave as ``StorageError``.
    """

    concurrent_writes = CONCURRENT_WRITES

    def __init__(self, path: Path | None = None) -> None:
        self._where = str(path) if path is not None else "the in-memory trace store"
        self._wal = Path(f"{path}.wal") if path is not None else None
        try:
            # The root connection only hands out cursors; it runs no queries itself.
            self._root = duckdb.connect(
                str(path) if path is not None else ":memory:",
                config=CONFIG,
            )
        except duckdb.Error as error:
            raise StorageError(
                f"cannot open trace store {self._where}: {_explain(error)}"
            ) from error
        try:
            self._writer = self._root.cursor()
            self._writer.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
            self._writer.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
            ensure_schema(self._writer)
            self._span_writer = SpanWriter(self._writer)
            ((start_min, start_max),) = self._writer.execute(
                "SELECT min(start_time_ns), max(start_time_ns) FROM spans"
            ).fetchall()
        except BaseException as error:
            self._root.close()
            if isinstance(error, duckdb.Error | StorageError):
                raise StorageError(f"cannot open trace store {self._where}: {error}") from error
            raise
        self._stored = TimeRange(start_min, start_max) if start_max is not None else None
        self._references = ReferenceRows()
        self._state_lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait for the writes in progress, then release the file; harmless when closed."""
        with self._span_writer.alone(), self._state_lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._span_writer.close()
                self._writer.close()
                self._root.close()
            except duckdb.Error as error:
                raise StorageError(f"closing {self._where} failed: {error}") from error

    def write_spans(self, spans: Sequence[Span]) -> None:
        """Store ``spans`` in one transaction; spans already stored are skipped.

        A ``SpanBatch`` goes in as it is; other sequences are made into one first.
        """
        if self._closed:
            raise StorageError(f"{self._where} is closed")
        if not spans:
            return
        batch = span_batch_of(spans)
        try:
            written = self._span_writer.write(batch)
        except WriterClosedError:
            raise StorageError(f"{self._where} is closed") from None
        except duckdb.Error as error:
            raise StorageError(
                f"writing {len(spans)} spans to {self._where} failed: {_explain(error)}"
            ) from error
        if written is not None:
            with self._state_lock:
                self._stored = written if self._stored is None else self._stored.including(written)

    def delete_traces_before(self, cutoff_ns: int) -> int:
        """Delete whole traces whose last span starts before ``cutoff_ns``, then checkpoint
        so that their blocks are free for reuse; return the number of spans deleted."""
        with self._span_writer.alone():
            if self._closed:
                raise StorageError(f"{self._where} is closed")
            try:
                deleted = deletion.delete_traces_before(self._writer, cutoff_ns)
                # The writer must not refer to a resource or scope that is gone.
                self._span_writer.reload()
                if deleted:
                    # FORCE waits for running reads instead of failing on them.
                    self._writer.execute("FORCE CHECKPOINT")
                ((start_min, start_max),) = self._writer.execute(
                    "SELECT min(start_min_ns), max(start_max_ns) FROM traces"
                ).fetchall()
            except duckdb.Error as error:
                raise StorageError(
                    f"deleting traces from {self._where} failed: {_explain(error)}"
                ) from error
            with self._state_lock:
                self._stored = TimeRange(start_min, start_max) if start_max is not None else None
            return deleted

    def storage_bytes(self) -> int:
        """Bytes of the file's used blocks plus its write-ahead log (see ``deletion``)."""
        wal_bytes = self._wal.stat().st_size if self._wal is not None and self._wal.exists() else 0
        return self._read("the database size", lambda cur: deletion.storage_bytes(cur, wal_bytes))

    def oldest_trace_start_ns(self) -> int | None:
        """When the earliest stored span starts, or None when the store is empty."""
        return self._read("the oldest trace", deletion.oldest_start_ns)

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._state_lock:
            if self._closed:
                raise StorageError(f"{self._where} is closed")
            cursor = self._root.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def _read(self, what: str, read: Callable[[duckdb.DuckDBPyConnection], _T]) -> _T:
        """Run ``read`` in a transaction of its own cursor: its queries (a trace's spans,
        then their resources, say) all see the same committed spans."""
        try:
            with self._cursor() as cursor, transaction(cursor):
                return read(cursor)
        except duckdb.Error as error:
            raise StorageError(f"reading {what} from {self._where} failed: {error}") from error

    def get_services(self) -> list[str]:
        return self._read("services", reader.get_services)

    def get_operations(self, query: OperationQuery) -> list[Operation]:
        return self._read("operations", lambda cur: reader.get_operations(cur, query))

    def get_trace(self, trace_id: str, max_spans: int | None = None) -> Trace | None:
        return self._read(
            f"trace {trace_id}",
            lambda cur: reader.get_trace(cur, trace_id, self._references, max_spans),
        )

    def find_trace_ids(self, query: TraceQuery) -> list[str]:
        stored = self._stored
        return self._read("trace ids", lambda cur: reader.find_trace_ids(cur, query, stored))

    def find_traces(self, query: TraceQuery, max_spans: int | None = None) -> list[Trace]:
        stored = self._stored
        return self._read(
            "traces",
            lambda cur: reader.find_traces(cur, query, stored, self._references, max_spans),
        )

    def get_dependencies(self, start_time_ns: int, end_time_ns: int) -> list[DependencyLink]:
        return self._read(
            "dependencies",
            lambda cur: aggregates.get_dependencies(cur, start_time_ns, end_time_ns),
        )

    def get_operation_stats(self, query: StatsQuery) -> list[OperationStats]:
        return self._read(
            "operation statistics", lambda cur: aggregates.get_operation_stats(cur, query)
        )
