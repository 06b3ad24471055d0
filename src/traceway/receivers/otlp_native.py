"""OTLP protobuf bodies decoded by the C module ``_otlp_native`` into a ``SpanBatch``.

The C module reads the wire format into column buffers without the GIL (see its
header for why it is written by hand); this wraps the buffers as Arrow arrays without
copying them and resolves resources and scopes through ``otlp_values``. It returns
None for what it leaves to the protobuf runtime, and also when the module was not
built (a machine without a C compiler): ``otlp_decode`` then decodes in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pyarrow as pa
from google.protobuf.message import DecodeError

from traceway.model import InstrumentationScope, Resource
from traceway.receivers.otlp_values import resource_of, scope_of
from traceway.storage.span_batch import SPAN_BATCH_SCHEMA, SpanBatch

try:
    from traceway.receivers import _otlp_native
except ImportError:  # built by setup.py; optional so that installs without a compiler work
    _otlp_native = None  # type: ignore[assignment,unused-ignore]

__all__ = ["NATIVE_AVAILABLE", "native_batch"]

_Owner = TypeVar("_Owner", Resource, InstrumentationScope)

NATIVE_AVAILABLE = _otlp_native is not None
"""Whether the C decoder was built; without it every body goes to the Python decoder."""


def native_batch(body: bytes) -> SpanBatch | None:
    """The spans of ``body``, or None when the C decoder leaves it to the Python one."""
    if not isinstance(body, bytes):
        body = bytes(body)  # the C decoder reads bytes only: they cannot change under it
    if _otlp_native is None or (columns := _otlp_native.decode(body)) is None:
        return None
    try:
        return _batch(*columns)
    except (DecodeError, UnicodeDecodeError):
        return None  # a malformed resource or scope: the Python decoder says what is wrong


def _batch(
    count: int, entry_count: int, resources: list[tuple[bytes, str]],
    scopes: list[tuple[bytes, str]], resource_of_span: bytes, scope_of_span: bytes,
    trace_ids: bytes, span_ids: bytes, parent_ids: bytes, parent_valid: bytes,
    name_offsets: bytes, names: bytes, kinds: bytes, starts: bytes, ends: bytes,
    status_codes: bytes, message_offsets: bytes, messages: bytes,
    attribute_offsets: bytes, entry_offsets: bytes, entries: bytes,
    event_offsets: bytes, events: bytes, event_valid: bytes,
    link_offsets: bytes, links: bytes, link_valid: bytes,
    state_offsets: bytes, states: bytes, flags: bytes,
    dropped_attributes: bytes, dropped_events: bytes, dropped_links: bytes,
) -> SpanBatch:  # fmt: skip
    """The batch of the C decoder's buffers, in the order it returns them."""
    batch_resources, resource_keys = _owners(resources, resource_of)
    batch_scopes, scope_keys = _owners(scopes, scope_of)

    def fixed(field: str, data: bytes, validity: bytes | None = None) -> pa.Array:
        kind = SPAN_BATCH_SCHEMA.field(field).type
        return pa.Array.from_buffers(kind, count, [_buffer(validity), pa.py_buffer(data)])

    def text(offsets: bytes, data: bytes, validity: bytes | None = None, size: int = count) -> Any:
        buffers = [_buffer(validity), pa.py_buffer(offsets), pa.py_buffer(data)]
        return pa.Array.from_buffers(pa.string(), size, buffers)

    entry_array = text(entry_offsets, entries, size=entry_count)
    arrays = [
        fixed("trace_id", trace_ids),
        fixed("span_id", span_ids),
        fixed("parent_span_id", parent_ids, parent_valid),
        text(name_offsets, names),
        fixed("kind", kinds),
        fixed("start_time_unix_nano", starts),
        fixed("end_time_unix_nano", ends),
        fixed("status_code", status_codes),
        text(message_offsets, messages),
        _keys(resource_keys, resource_of_span, count),
        _keys(scope_keys, scope_of_span, count),
        pa.Array.from_buffers(
            pa.list_(pa.string()), count, [None, pa.py_buffer(attribute_offsets)],
            children=[entry_array],
        ),
        pa.nulls(count, pa.string()),  # list and map values are left to the Python decoder
        text(event_offsets, events, event_valid),
        text(link_offsets, links, link_valid),
        text(state_offsets, states),
        fixed("flags", flags),
        fixed("dropped_attributes_count", dropped_attributes),
        fixed("dropped_events_count", dropped_events),
        fixed("dropped_links_count", dropped_links),
    ]  # fmt: skip
    table = pa.Table.from_arrays(arrays, schema=SPAN_BATCH_SCHEMA)
    return SpanBatch(table, batch_resources, batch_scopes)


def _owners(
    found: list[tuple[bytes, str]], decode: Callable[[bytes, str], tuple[_Owner, int]]
) -> tuple[dict[int, _Owner], list[int]]:
    """The resources (or scopes) of a batch by key, and the key of each one found."""
    by_key: dict[int, _Owner] = {}
    keys: list[int] = []
    for raw, schema_url in found:
        owner, key = decode(raw, schema_url)
        by_key.setdefault(key, owner)
        keys.append(key)
    return by_key, keys


def _keys(keys: list[int], index_of_span: bytes, count: int) -> pa.Array:
    """The key of each span's resource (or scope), from its index among them."""
    indices = pa.Array.from_buffers(pa.int32(), count, [None, pa.py_buffer(index_of_span)])
    return pa.array(keys, pa.int64()).take(indices)


def _buffer(data: bytes | None) -> pa.Buffer | None:
    return None if data is None else pa.py_buffer(data)
