"""Span rows read from DuckDB back into ``Span`` objects."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import duckdb

from traceway.model import InstrumentationScope, Resource, Span, SpanKind, StatusCode
from traceway.storage.attribute_entries import decode_entries
from traceway.storage.duckdb.attribute_columns import entries
from traceway.storage.duckdb.event_columns import events
from traceway.storage.typed_json import decode_links

__all__ = [
    "RESOURCE_COLUMNS",
    "SCOPE_COLUMNS",
    "SET_COLUMNS",
    "SPAN_COLUMNS",
    "ReferenceRows",
    "SpanDecoder",
]

SPAN_COLUMNS = """
    s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_time_ns, s.duration_ns,
    s.status_code, s.status_message, s.attributes_varying, s.attributes_with_rs,
    s.attributes_extra, s.events, s.event_offsets_ns, s.links,
    s.trace_state, s.flags,
    s.dropped_attributes_count, s.dropped_events_count, s.dropped_links_count,
    s.attribute_set_id, s.resource_id, s.scope_id
"""
"""Every column of a span ``s`` a ``Span`` is made of, in the order ``SpanDecoder.span`` expects;
its common attributes, resource and scope come from rows of ``attribute_sets``
(``SET_COLUMNS``), ``RESOURCE_COLUMNS`` and ``SCOPE_COLUMNS``."""

SET_COLUMNS = "set_id, entries"

RESOURCE_COLUMNS = "resource_id, attributes, attributes_extra, dropped_attributes_count, schema_url"
SCOPE_COLUMNS = (
    "scope_id, name, version, attributes, attributes_extra, dropped_attributes_count, schema_url"
)


_KINDS = tuple(SpanKind)
_STATUS_CODES = tuple(StatusCode)


class SpanDecoder:
    """Builds spans from rows; spans of one read share each decoded resource and scope."""

    def __init__(
        self,
        set_rows: Iterable[tuple[Any, ...]],
        resource_rows: Iterable[tuple[Any, ...]],
        scope_rows: Iterable[tuple[Any, ...]],
    ) -> None:
        self._sets: dict[int, str] = dict(set_rows)
        self._sets[0] = ""
        self._resources = {
            resource_id: Resource(decode_entries(attributes, extra), dropped, schema_url)
            for resource_id, attributes, extra, dropped, schema_url in resource_rows
        }
        self._scopes = {
            scope_id: InstrumentationScope(
                name, version, decode_entries(attributes, extra), dropped, schema_url
            )
            for scope_id, name, version, attributes, extra, dropped, schema_url in scope_rows
        }

    def span(self, row: tuple[Any, ...]) -> Span:
        """The span of one row of ``SPAN_COLUMNS``."""
        (
            trace_id,
            span_id,
            parent_span_id,
            name,
            kind,
            start,
            duration,
            status_code,
            status_message,
            attributes_varying,
            attributes_with_rs,
            attributes_extra,
            event_texts,
            event_offsets,
            links,
            trace_state,
            flags,
            dropped_attributes,
            dropped_events,
            dropped_links,
            set_id,
            resource_id,
            scope_id,
        ) = row
        return Span(
            trace_id=f"{trace_id:032x}",
            span_id=f"{span_id:016x}",
            parent_span_id=f"{parent_span_id:016x}" if parent_span_id else "",
            name=name,
            kind=_KINDS[kind],
            start_time_unix_nano=start,
            end_time_unix_nano=start + duration,
            attributes=decode_entries(
                entries(self._sets[set_id], attributes_varying, attributes_with_rs),
                attributes_extra,
            ),
            status_code=_STATUS_CODES[status_code],
            status_message=status_message,
            resource=self._resources[resource_id],
            scope=self._scopes[scope_id],
            events=events(start, event_offsets, event_texts),
            links=decode_links(links),
            trace_state=trace_state,
            flags=flags,
            dropped_attributes_count=dropped_attributes,
            dropped_events_count=dropped_events,
            dropped_links_count=dropped_links,
        )


_TABLES = {
    "attribute_sets": (SET_COLUMNS, "set_id"),
    "resources": (RESOURCE_COLUMNS, "resource_id"),
    "scopes": (SCOPE_COLUMNS, "scope_id"),
}
"""The columns read of each table of ``ReferenceRows`` and its id column."""

MAX_REFERENCE_ROWS = 65_536
"""Rows of one table ``ReferenceRows`` keeps at most: past that it forgets them."""


class ReferenceRows:
    """Rows of ``attribute_sets``, ``resources`` and ``scopes``, read once and kept
    (up to ``MAX_REFERENCE_ROWS`` each): a stored row never changes.

    Saves a trace read three queries, each of which would wait for the GIL while
    decoding threads hold it. Only committed rows are ever read, so an id is never
    cached for a row that a failed write took back.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[int, tuple[Any, ...]]] = {table: {} for table in _TABLES}

    def _rows_of(
        self, cur: duckdb.DuckDBPyConnection, table: str, ids: set[int]
    ) -> list[tuple[Any, ...]]:
        known = self._rows[table]
        with self._lock:
            found = {row_id: known[row_id] for row_id in ids if row_id in known}
        missing = sorted(ids - found.keys())
        if missing:
            columns, id_column = _TABLES[table]
            placeholders = ", ".join("?" for _ in missing)
            # Table and column names are constants of this module; the ids are parameters.
            rows = cur.execute(
                f"SELECT {columns} FROM {table} WHERE {id_column} IN ({placeholders})",  # noqa: S608
                missing,
            ).fetchall()
            found.update((row[0], row) for row in rows)
            with self._lock:
                if len(known) + len(rows) > MAX_REFERENCE_ROWS:
                    known.clear()
                known.update((row[0], row) for row in rows)
        return [found[row_id] for row_id in ids]

    def decoder(
        self, cur: duckdb.DuckDBPyConnection, span_rows: Iterable[tuple[Any, ...]]
    ) -> SpanDecoder:
        """A decoder for span rows of ``SPAN_COLUMNS`` (set, resource and scope ids last)."""
        rows = list(span_rows)
        return SpanDecoder(
            self._rows_of(cur, "attribute_sets", {row[-3] for row in rows} - {0}),
            self._rows_of(cur, "resources", {row[-2] for row in rows}),
            self._rows_of(cur, "scopes", {row[-1] for row in rows}),
        )
