"""OTLP ``AnyValue``/``KeyValue`` as model values, and resources and scopes decoded once.

Clients send the same few resources and scopes in every export, so each is decoded
once and kept under its serialized bytes (with its schema URL); both OTLP decoders
(``otlp_decode`` and ``otlp_native``) look them up here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from traceway.model import AttributeValue, InstrumentationScope, Resource
from traceway.storage.span_batch import resource_key, scope_key

__all__ = ["attributes", "resource_of", "scope_of", "value"]

_MAX_KNOWN = 1024
_MAX_KNOWN_BYTES = 4096
_T = TypeVar("_T")
_RESOURCES: dict[tuple[bytes, str], tuple[Resource, int]] = {}
_SCOPES: dict[tuple[bytes, str], tuple[InstrumentationScope, int]] = {}


def resource_of(raw: bytes, schema_url: str) -> tuple[Resource, int]:
    """The resource serialized as ``raw`` and its key (``DecodeError`` if it is not one,
    also when it nests deeper than protobuf allows in a request)."""
    known_as = (raw, schema_url)
    if (known := _RESOURCES.get(known_as)) is None:
        pb = _parsed_in_place(raw, 1, 1).resource_spans[0].resource
        resource = Resource(
            attributes=attributes(pb.attributes),
            dropped_attributes_count=pb.dropped_attributes_count,
            schema_url=schema_url,
        )
        known = _remember(_RESOURCES, known_as, (resource, resource_key(resource)))
    return known


def scope_of(raw: bytes, schema_url: str) -> tuple[InstrumentationScope, int]:
    """The instrumentation scope serialized as ``raw`` and its key, as ``resource_of``."""
    known_as = (raw, schema_url)
    if (known := _SCOPES.get(known_as)) is None:
        pb = _parsed_in_place(raw, 1, 2, 1).resource_spans[0].scope_spans[0].scope
        scope = InstrumentationScope(
            name=pb.name,
            version=pb.version,
            attributes=attributes(pb.attributes),
            dropped_attributes_count=pb.dropped_attributes_count,
            schema_url=schema_url,
        )
        known = _remember(_SCOPES, known_as, (scope, scope_key(scope)))
    return known


def _parsed_in_place(raw: bytes, *path: int) -> ExportTraceServiceRequest:
    """A request holding ``raw`` as the message at ``path`` (field numbers from the top),
    parsed, so that protobuf counts its nesting limit as it would in a whole body."""
    body = raw
    for number in reversed(path):
        body = _length_delimited(number, body)
    return ExportTraceServiceRequest.FromString(body)


def _length_delimited(number: int, payload: bytes) -> bytes:
    header = bytearray()
    for value in (number << 3 | 2, len(payload)):
        while value > 0x7F:
            header.append(value & 0x7F | 0x80)
            value >>= 7
        header.append(value)
    return bytes(header) + payload


def _remember(known: dict[tuple[bytes, str], _T], key: tuple[bytes, str], value: _T) -> _T:
    if len(key[0]) > _MAX_KNOWN_BYTES:
        return value  # kept only small ones, so that the memory they take stays small
    if len(known) >= _MAX_KNOWN:
        known.clear()  # resources and scopes are few in practice; this bounds odd clients
    known[key] = value
    return value


def attributes(key_values: Iterable[KeyValue]) -> dict[str, AttributeValue]:
    return {kv.key: value(kv.value) for kv in key_values}


def value(any_value: AnyValue) -> AttributeValue:
    kind = any_value.WhichOneof("value")
    if kind == "string_value":
        return any_value.string_value
    if kind == "int_value":
        return any_value.int_value
    if kind == "bool_value":
        return any_value.bool_value
    if kind == "double_value":
        return any_value.double_value
    if kind == "array_value":
        return [value(item) for item in any_value.array_value.values]
    if kind == "kvlist_value":
        return attributes(any_value.kvlist_value.values)
    if kind == "bytes_value":
        return any_value.bytes_value
    # Unset, or ``string_value_strindex``: an index into a profiles dictionary,
    # which trace requests do not carry, so there is no string to resolve it to.
    return None
