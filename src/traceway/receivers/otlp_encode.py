"""Encode ``model.Span``s as an OTLP trace export request, the inverse of ``otlp_decode``.

For forwarding spans to an upstream collector and for answering in OTLP. Spans are
grouped the way OTLP nests them (resource, then scope) in order of first appearance;
spans with equal resources share one ``ResourceSpans`` even when they are different
objects, as they are after a storage read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    InstrumentationScope as PbInstrumentationScope,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.proto.trace.v1 import trace_pb2

from traceway.model import Attributes, AttributeValue, InstrumentationScope, Resource, Span
from traceway.receivers.otlp_json import request_to_json

__all__ = ["encode_json", "encode_protobuf", "encode_request"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def encode_protobuf(spans: Iterable[Span]) -> bytes:
    """The ``application/x-protobuf`` body of an OTLP/HTTP export of ``spans``."""
    return encode_request(spans).SerializeToString()


def encode_json(spans: Iterable[Span]) -> bytes:
    """The ``application/json`` body of an OTLP/HTTP export of ``spans`` (hex ids)."""
    return request_to_json(encode_request(spans))


def encode_request(spans: Iterable[Span]) -> ExportTraceServiceRequest:
    """One export request carrying ``spans``, nested by resource and scope."""
    request = ExportTraceServiceRequest()
    resources: dict[tuple[bytes, str], trace_pb2.ResourceSpans] = {}
    scopes: dict[tuple[bytes, str, bytes, str], trace_pb2.ScopeSpans] = {}
    serialized = _SerializedOnce()
    for span in spans:
        resource_key = (serialized(span.resource), span.resource.schema_url)
        scope_key = (*resource_key, serialized(span.scope), span.scope.schema_url)
        scope_spans = scopes.get(scope_key)
        if scope_spans is None:
            resource_spans = resources.get(resource_key)
            if resource_spans is None:
                resource_spans = request.resource_spans.add(schema_url=span.resource.schema_url)
                resource_spans.resource.ParseFromString(resource_key[0])
                resources[resource_key] = resource_spans
            scope_spans = resource_spans.scope_spans.add(schema_url=span.scope.schema_url)
            scope_spans.scope.ParseFromString(scope_key[2])
            scopes[scope_key] = scope_spans
        _add_span(scope_spans, span)
    return request


class _SerializedOnce:
    """Serializes each resource or scope object once, deterministically, as a group key.

    Equal values give equal keys, so spans read back from storage (each with its own
    ``Resource`` object) still share one ``ResourceSpans``. The cache holds the objects
    so that their ``id`` cannot be reused by another while the request is built.
    """

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Resource | InstrumentationScope, bytes]] = {}

    def __call__(self, value: Resource | InstrumentationScope) -> bytes:
        cached = self._cache.get(id(value))
        if cached is None:
            message = _resource(value) if isinstance(value, Resource) else _scope(value)
            cached = (value, message.SerializeToString(deterministic=True))
            self._cache[id(value)] = cached
        return cached[1]


def _resource(resource: Resource) -> PbResource:
    return PbResource(
        attributes=_key_values(resource.attributes),
        dropped_attributes_count=resource.dropped_attributes_count,
    )


def _scope(scope: InstrumentationScope) -> PbInstrumentationScope:
    return PbInstrumentationScope(
        name=scope.name,
        version=scope.version,
        attributes=_key_values(scope.attributes),
        dropped_attributes_count=scope.dropped_attributes_count,
    )


def _add_span(scope_spans: trace_pb2.ScopeSpans, span: Span) -> None:
    scope_spans.spans.add(
        trace_id=bytes.fromhex(span.trace_id),
        span_id=bytes.fromhex(span.span_id),
        trace_state=span.trace_state,
        parent_span_id=bytes.fromhex(span.parent_span_id),
        flags=span.flags,
        name=span.name,
        kind=trace_pb2.Span.SpanKind.ValueType(span.kind),
        start_time_unix_nano=span.start_time_unix_nano,
        end_time_unix_nano=span.end_time_unix_nano,
        attributes=_key_values(span.attributes),
        dropped_attributes_count=span.dropped_attributes_count,
        events=[
            trace_pb2.Span.Event(
                time_unix_nano=event.time_unix_nano,
                name=event.name,
                attributes=_key_values(event.attributes),
                dropped_attributes_count=event.dropped_attributes_count,
            )
            for event in span.events
        ],
        dropped_events_count=span.dropped_events_count,
        links=[
            trace_pb2.Span.Link(
                trace_id=bytes.fromhex(link.trace_id),
                span_id=bytes.fromhex(link.span_id),
                trace_state=link.trace_state,
                attributes=_key_values(link.attributes),
                dropped_attributes_count=link.dropped_attributes_count,
                flags=link.flags,
            )
            for link in span.links
        ],
        dropped_links_count=span.dropped_links_count,
        status=trace_pb2.Status(
            code=trace_pb2.Status.StatusCode.ValueType(span.status_code),
            message=span.status_message,
        ),
    )


def _key_values(attributes: Attributes) -> list[KeyValue]:
    return [KeyValue(key=key, value=_any_value(value)) for key, value in attributes.items()]


def _any_value(value: AttributeValue) -> AnyValue:
    # bool before int: ``True`` is an ``int`` to isinstance.
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return AnyValue(int_value=value)
        # Only non-OTLP receivers can produce this; text keeps every digit.
        return AnyValue(string_value=str(value))
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list | tuple):
        return AnyValue(array_value=ArrayValue(values=[_any_value(item) for item in value]))
    if isinstance(value, Mapping):
        return AnyValue(kvlist_value=KeyValueList(values=_key_values(value)))
    if value is None:
        return AnyValue()
    raise TypeError(f"attribute value of type {type(value).__name__} has no OTLP form")
