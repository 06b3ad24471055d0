"""A service's own SQLite database, each query a CLIENT span (database semantic conventions).

The span is named ``{db.operation.name} {db.collection.name}`` (e.g. ``SELECT users``)
and carries ``db.system.name``, ``db.namespace``, ``db.collection.name``,
``db.operation.name`` and the parameterised ``db.query.text`` (parameters are never
recorded), as the current (stable) database conventions ask.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from traceway.instrument import record_error

__all__ = ["Database", "Row"]

Row = sqlite3.Row


class Database:
    """One SQLite connection shared by a thread-pool server's threads, one query at a time."""

    def __init__(self, namespace: str, path: str = ":memory:") -> None:
        self.namespace = namespace
        self._connection = sqlite3.connect(path, check_same_thread=False)
        self._connection.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._tracer = trace.get_tracer("traceway.demo.database")

    def setup(self, schema: str, seed_sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Create the tables and insert the seed rows (no spans: this is not a request)."""
        with self._lock, self._connection:
            self._connection.executescript(schema)
            self._connection.executemany(seed_sql, rows)

    def query(
        self, sql: str, parameters: Sequence[Any], *, operation: str, collection: str
    ) -> list[Row]:
        """Run one statement inside a CLIENT span and return its rows."""
        attributes = {
            "db.system.name": "sqlite",
            "db.namespace": self.namespace,
            "db.collection.name": collection,
            "db.operation.name": operation,
            "db.query.text": sql,
        }
        with self._tracer.start_as_current_span(
            f"{operation} {collection}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                with self._lock:
                    rows = self._connection.execute(sql, parameters).fetchall()
            except sqlite3.Error as exc:
                record_error(span, exc)
                raise
            span.set_attribute("db.response.returned_rows", len(rows))
            return rows

    def close(self) -> None:
        with self._lock:
            self._connection.close()
