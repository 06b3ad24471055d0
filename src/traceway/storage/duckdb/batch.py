"""A batch of spans as Arrow tables, column by column, shaped like the tables in ``schema``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from traceway.model import InstrumentationScope, Resource, Span
from traceway.storage.duckdb.encoding import (
    encode_attributes,
    encode_events,
    encode_links,
    tag_text_of,
)

__all__ = ["ArrowBatch", "to_arrow"]

_RESOURCES = pa.schema(
    [
        ("resource_id", pa.int64()),
        ("attributes", pa.string()),
        ("dropped_attributes_count", pa.uint32()),
        ("schema_url", pa.string()),
        ("tag_text", pa.string()),
    ]
)
_SCOPES = pa.schema(
    [
        ("scope_id", pa.int64()),
        ("name", pa.string()),
        ("version", pa.string()),
        ("attributes", pa.string()),
        ("dropped_attributes_count", pa.uint32()),
        ("schema_url", pa.string()),
    ]
)
_SPANS = pa.schema(
    [
        ("trace_id", pa.binary(16)),
        ("span_id", pa.binary(8)),
        ("parent_span_id", pa.binary(8)),
        ("service_name", pa.string()),
        ("name", pa.string()),
        ("kind", pa.uint8()),
        ("start_time_ns", pa.int64()),
        ("duration_ns", pa.int64()),
        ("status_code", pa.uint8()),
        ("status_message", pa.string()),
        ("resource_id", pa.int64()),
        ("scope_id", pa.int64()),
        ("attributes", pa.string()),
        ("tag_text", pa.string()),
        ("events", pa.string()),
        ("links", pa.string()),
        ("trace_state", pa.string()),
        ("flags", pa.uint32()),
        ("dropped_attributes_count", pa.uint32()),
        ("dropped_events_count", pa.uint32()),
        ("dropped_links_count", pa.uint32()),
    ]
)


@dataclass(frozen=True, slots=True)
class ArrowBatch:
    """Rows for ``resources``, ``scopes`` and ``spans``; resources and scopes distinct."""

    resources: pa.Table
    scopes: pa.Table
    spans: pa.Table


def _content_id(*parts: object) -> int:
    """A 64-bit id of the content, so one resource (or scope) gets one row."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _Interner:
    """Rows of the distinct resources and scopes in a batch, and the id of each."""

    def __init__(self) -> None:
        self.resources: dict[int, tuple[object, ...]] = {}
        self.scopes: dict[int, tuple[object, ...]] = {}
        # Spans of one export share their Resource object: encode each object once.
        # Keyed by id(): the batch keeps every object alive while this exists.
        self._seen: dict[int, int] = {}

    def resource_id(self, resource: Resource) -> int:
        if (known := self._seen.get(id(resource))) is not None:
            return known
        attributes = encode_attributes(resource.attributes)
        row_id = _content_id(attributes, resource.dropped_attributes_count, resource.schema_url)
        self.resources[row_id] = (
            row_id,
            attributes,
            resource.dropped_attributes_count,
            resource.schema_url,
            tag_text_of(resource.attributes),
        )
        self._seen[id(resource)] = row_id
        return row_id

    def scope_id(self, scope: InstrumentationScope) -> int:
        if (known := self._seen.get(id(scope))) is not None:
            return known
        attributes = encode_attributes(scope.attributes)
        row = (scope.name, scope.version, attributes, scope.dropped_attributes_count)
        row_id = _content_id(*row, scope.schema_url)
        self.scopes[row_id] = (row_id, *row, scope.schema_url)
        self._seen[id(scope)] = row_id
        return row_id


def _table(schema: pa.Schema, rows: Sequence[Sequence[object]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    return pa.Table.from_arrays(
        [pa.array(column, type=f.type) for column, f in zip(columns, schema, strict=True)],
        schema=schema,
    )


def _span_row(span: Span, interner: _Interner) -> tuple[object, ...]:
    return (
        bytes.fromhex(span.trace_id),
        bytes.fromhex(span.span_id),
        bytes.fromhex(span.parent_span_id) if span.parent_span_id else None,
        span.service_name,
        span.name,
        int(span.kind),
        span.start_time_unix_nano,
        span.end_time_unix_nano - span.start_time_unix_nano,
        int(span.status_code),
        span.status_message,
        interner.resource_id(span.resource),
        interner.scope_id(span.scope),
        encode_attributes(span.attributes),
        tag_text_of(span.attributes),
        encode_events(span.events),
        encode_links(span.links),
        span.trace_state,
        span.flags,
        span.dropped_attributes_count,
        span.dropped_events_count,
        span.dropped_links_count,
    )


def to_arrow(spans: Sequence[Span]) -> ArrowBatch:
    """The rows to insert for ``spans``, which must have distinct (trace id, span id)."""
    interner = _Interner()
    span_rows = [_span_row(span, interner) for span in spans]
    return ArrowBatch(
        resources=_table(_RESOURCES, list(interner.resources.values())),
        scopes=_table(_SCOPES, list(interner.scopes.values())),
        spans=_table(_SPANS, span_rows),
    )
