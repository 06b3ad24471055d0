"""``SpanBatch``: spans column by column, a ``Sequence[Span]`` that a column store takes as is.

Decoding a large export straight into columns skips building a ``Span`` (and its
attribute dicts) per span only to take it apart again in storage. A ``SpanBatch`` is
still a ``Sequence[Span]``, so every consumer of spans accepts it: indexing or
iterating builds the ``Span`` objects on demand. Backends that know the batch
(DuckDB) insert its Arrow table directly.

Ids are bytes (16 and 8; a missing parent is null), times ``uint64`` as OTLP sends
them, attributes are entry lists (``attribute_entries``), events and links typed
JSON (``typed_json``). Resources and scopes are held once per batch, under a key
derived from their content, which the spans' ``resource_key``/``scope_key`` name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

import pyarrow as pa

from traceway.model import InstrumentationScope, Resource, Span, SpanKind, StatusCode
from traceway.storage.attribute_entries import decode_entries, encode_entries
from traceway.storage.typed_json import decode_events, decode_links, encode_events, encode_links
from traceway.storage.validation import check_spans

__all__ = [
    "SPAN_BATCH_SCHEMA",
    "SpanBatch",
    "SpanBatchBuilder",
    "content_key",
    "join_spans",
    "resource_key",
    "scope_key",
    "span_batch_of",
]

SPAN_BATCH_SCHEMA = pa.schema(
    [
        ("trace_id", pa.binary(16)),
        ("span_id", pa.binary(8)),
        ("parent_span_id", pa.binary(8)),
        ("name", pa.string()),
        ("kind", pa.uint8()),
        ("start_time_unix_nano", pa.uint64()),
        ("end_time_unix_nano", pa.uint64()),
        ("status_code", pa.uint8()),
        ("status_message", pa.string()),
        ("resource_key", pa.int64()),
        ("scope_key", pa.int64()),
        ("attributes", pa.list_(pa.string())),
        ("attributes_extra", pa.string()),
        ("events", pa.string()),
        ("links", pa.string()),
        ("trace_state", pa.string()),
        ("flags", pa.uint32()),
        ("dropped_attributes_count", pa.uint32()),
        ("dropped_events_count", pa.uint32()),
        ("dropped_links_count", pa.uint32()),
    ]
)
"""The columns of a ``SpanBatch``, in this order."""

_KINDS = tuple(SpanKind)
_STATUS_CODES = tuple(StatusCode)


def content_key(*parts: object) -> int:
    """A 64-bit key of a resource's or scope's content, so equal content gets one key."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def resource_key(resource: Resource) -> int:
    entries, extra = encode_entries(resource.attributes)
    return content_key(entries, extra, resource.dropped_attributes_count, resource.schema_url)


def scope_key(scope: InstrumentationScope) -> int:
    entries, extra = encode_entries(scope.attributes)
    return content_key(
        scope.name, scope.version, entries, extra, scope.dropped_attributes_count, scope.schema_url
    )


class SpanBatchBuilder:
    """Column lists that rows are appended to; ``build`` turns them into a ``SpanBatch``.

    The lists are public so that a decoder's inner loop can append to them directly;
    every list must get one value per span.
    """

    def __init__(self) -> None:
        self.columns: list[list[Any]] = [[] for _ in SPAN_BATCH_SCHEMA]
        self.resources: dict[int, Resource] = {}
        self.scopes: dict[int, InstrumentationScope] = {}
        self._resource_keys: dict[int, int] = {}  # id() of a Resource object -> key
        self._scope_keys: dict[int, int] = {}
        self._objects: list[object] = []  # keeps objects alive while keyed by id()

    def add_resource(self, resource: Resource, key: int | None = None) -> int:
        """The key spans of ``resource`` carry (``key`` if the caller knows it already);
        the resource is kept once per content."""
        if (known := self._resource_keys.get(id(resource))) is not None:
            return known
        if key is None:
            key = resource_key(resource)
        self.resources.setdefault(key, resource)
        self._resource_keys[id(resource)] = key
        self._objects.append(resource)
        return key

    def add_scope(self, scope: InstrumentationScope, key: int | None = None) -> int:
        """The key spans of ``scope`` carry, as ``add_resource``."""
        if (known := self._scope_keys.get(id(scope))) is not None:
            return known
        if key is None:
            key = scope_key(scope)
        self.scopes.setdefault(key, scope)
        self._scope_keys[id(scope)] = key
        self._objects.append(scope)
        return key

    def add_span(self, span: Span) -> None:
        """Append one ``Span`` (the slow path: for spans that are objects already)."""
        entries, extra = encode_entries(span.attributes)
        row = (
            bytes.fromhex(span.trace_id),
            bytes.fromhex(span.span_id),
            bytes.fromhex(span.parent_span_id) if span.parent_span_id else None,
            span.name,
            int(span.kind),
            span.start_time_unix_nano,
            span.end_time_unix_nano,
            int(span.status_code),
            span.status_message,
            self.add_resource(span.resource),
            self.add_scope(span.scope),
            entries,
            extra,
            encode_events(span.events),
            encode_links(span.links),
            span.trace_state,
            span.flags,
            span.dropped_attributes_count,
            span.dropped_events_count,
            span.dropped_links_count,
        )
        for column, value in zip(self.columns, row, strict=True):
            column.append(value)

    def build(self, **built: pa.Array) -> SpanBatch:
        """The batch of the appended rows; ``built`` gives columns by name that were
        built as arrays elsewhere (e.g. ``EntryColumnBuilder``), whose lists stay empty."""
        arrays = [
            built[field.name] if field.name in built else pa.array(column, type=field.type)
            for column, field in zip(self.columns, SPAN_BATCH_SCHEMA, strict=True)
        ]
        table = pa.Table.from_arrays(arrays, schema=SPAN_BATCH_SCHEMA)
        return SpanBatch(table, self.resources, self.scopes)


class SpanBatch(Sequence[Span]):
    """Spans as an Arrow table plus their resources and scopes; immutable."""

    __slots__ = ("_resources", "_scopes", "_table")

    def __init__(
        self,
        table: pa.Table,
        resources: Mapping[int, Resource],
        scopes: Mapping[int, InstrumentationScope],
    ) -> None:
        self._table = table
        self._resources = dict(resources)
        self._scopes = dict(scopes)

    @property
    def table(self) -> pa.Table:
        """The span columns (``SPAN_BATCH_SCHEMA``)."""
        return self._table

    @property
    def resources(self) -> Mapping[int, Resource]:
        return self._resources

    @property
    def scopes(self) -> Mapping[int, InstrumentationScope]:
        return self._scopes

    @classmethod
    def concat(cls, batches: Iterable[SpanBatch]) -> SpanBatch:
        """One batch of the spans of ``batches``, in order (the tables are not copied)."""
        parts = list(batches)
        resources: dict[int, Resource] = {}
        scopes: dict[int, InstrumentationScope] = {}
        for part in parts:
            resources.update(part.resources)
            scopes.update(part.scopes)
        tables = [part.table for part in parts] or [SPAN_BATCH_SCHEMA.empty_table()]
        return cls(pa.concat_tables(tables), resources, scopes)

    def __len__(self) -> int:
        rows: int = self._table.num_rows
        return rows

    @overload
    def __getitem__(self, index: int) -> Span: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Span]: ...

    def __getitem__(self, index: int | slice) -> Span | Sequence[Span]:
        if isinstance(index, slice):
            return list(self)[index]
        size = len(self)
        if not -size <= index < size:
            raise IndexError("span index out of range")
        (span,) = self._spans(self._table.slice(index % size, 1))
        return span

    def __iter__(self) -> Iterator[Span]:
        return self._spans(self._table)

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of equal spans in the same order (a tuple, a list, ...)."""
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SpanBatch({len(self)} spans)"

    def _spans(self, table: pa.Table) -> Iterator[Span]:
        columns = [column.to_pylist() for column in table.columns]
        for row in zip(*columns, strict=True):
            yield self._span(row)

    def _span(self, row: tuple[Any, ...]) -> Span:
        (
            trace_id,
            span_id,
            parent_span_id,
            name,
            kind,
            start,
            end,
            status_code,
            status_message,
            resource,
            scope,
            attributes,
            attributes_extra,
            events,
            links,
            trace_state,
            flags,
            dropped_attributes,
            dropped_events,
            dropped_links,
        ) = row
        return Span(
            trace_id=trace_id.hex(),
            span_id=span_id.hex(),
            parent_span_id=parent_span_id.hex() if parent_span_id is not None else "",
            name=name,
            kind=_KINDS[kind],
            start_time_unix_nano=start,
            end_time_unix_nano=end,
            attributes=decode_entries(attributes, attributes_extra),
            status_code=_STATUS_CODES[status_code],
            status_message=status_message,
            resource=self._resources[resource],
            scope=self._scopes[scope],
            events=decode_events(events),
            links=decode_links(links),
            trace_state=trace_state,
            flags=flags,
            dropped_attributes_count=dropped_attributes,
            dropped_events_count=dropped_events,
            dropped_links_count=dropped_links,
        )


def join_spans(parts: Sequence[Sequence[Span]]) -> SpanBatch:
    """The spans of ``parts`` in order as one ``SpanBatch``; parts that are batches
    already are not taken apart."""
    return SpanBatch.concat(span_batch_of(part) for part in parts)


def span_batch_of(spans: Sequence[Span]) -> SpanBatch:
    """``spans`` as a ``SpanBatch``: itself when it is one, else checked (``ValueError``
    for malformed spans) and built span by span."""
    if isinstance(spans, SpanBatch):
        return spans
    check_spans(spans)
    builder = SpanBatchBuilder()
    for span in spans:
        builder.add_span(span)
    return builder.build()
