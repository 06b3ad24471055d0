"""Decode OTLP trace export requests into ``model.Span``s, the one internal shape.

Bad input comes in two kinds, answered the two ways the OTLP specification allows:

* a body that is not an ``ExportTraceServiceRequest`` at all raises ``OtlpDecodeError``:
  permanent, so receivers answer HTTP 400 / gRPC ``INVALID_ARGUMENT`` and the client
  drops the data instead of retrying it forever;
* a well-formed request with spans that cannot be stored (a trace or span id of the
  wrong length, all zero, or in JSON not hex) keeps its other spans; ``DecodedSpans``
  counts the rest and says why, for the response's ``partial_success``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from traceway.model import (
    AttributeValue,
    Event,
    InstrumentationScope,
    Link,
    Resource,
    Span,
    SpanKind,
    StatusCode,
)
from traceway.receivers.otlp_json import request_from_json

__all__ = [
    "DecodedSpans",
    "OtlpDecodeError",
    "decode_json",
    "decode_protobuf",
    "decode_request",
    "export_response",
]

_TRACE_ID_BYTES = 16
_SPAN_ID_BYTES = 8
_SPAN_KINDS = {kind.value: kind for kind in SpanKind}
_STATUS_CODES = {code.value: code for code in StatusCode}


class OtlpDecodeError(ValueError):
    """The body is not an OTLP trace export request; permanent, the client must not retry."""


@dataclass(frozen=True, slots=True)
class DecodedSpans:
    """The storable spans of one export request, and how many were rejected and why."""

    spans: tuple[Span, ...]
    rejected_spans: int = 0
    error_message: str = ""


class _RejectedSpan(ValueError):
    """A span that is well-formed protobuf but cannot be stored; the message is the reason."""


def decode_protobuf(body: bytes) -> DecodedSpans:
    """Decode an ``application/x-protobuf`` body (OTLP/HTTP) into spans."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise OtlpDecodeError(
            f"body is not a protobuf ExportTraceServiceRequest ({exc}); "
            "send OTLP/protobuf with Content-Type application/x-protobuf"
        ) from exc
    return decode_request(request)


def decode_json(body: bytes) -> DecodedSpans:
    """Decode an ``application/json`` body (OTLP/HTTP with hex ids) into spans."""
    try:
        request = request_from_json(body)
    except ValueError as exc:
        raise OtlpDecodeError(f"{exc}; send OTLP/JSON with Content-Type application/json") from exc
    return decode_request(request)


def decode_request(request: ExportTraceServiceRequest) -> DecodedSpans:
    """Turn a parsed export request into spans, rejecting those with unusable ids."""
    spans: list[Span] = []
    rejections: Counter[str] = Counter()
    for resource_spans in request.resource_spans:
        resource = Resource(
            attributes=_attributes(resource_spans.resource.attributes),
            dropped_attributes_count=resource_spans.resource.dropped_attributes_count,
            schema_url=resource_spans.schema_url,
        )
        for scope_spans in resource_spans.scope_spans:
            pb_scope = scope_spans.scope
            scope = InstrumentationScope(
                name=pb_scope.name,
                version=pb_scope.version,
                attributes=_attributes(pb_scope.attributes),
                dropped_attributes_count=pb_scope.dropped_attributes_count,
                schema_url=scope_spans.schema_url,
            )
            for pb_span in scope_spans.spans:
                try:
                    spans.append(_span(pb_span, resource, scope))
                except _RejectedSpan as rejection:
                    rejections[str(rejection)] += 1
    return DecodedSpans(
        spans=tuple(spans),
        rejected_spans=rejections.total(),
        error_message=_rejection_message(rejections),
    )


def export_response(decoded: DecodedSpans) -> ExportTraceServiceResponse:
    """The answer to an export: ``partial_success`` is set only when something was rejected."""
    if not decoded.rejected_spans and not decoded.error_message:
        return ExportTraceServiceResponse()
    return ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(
            rejected_spans=decoded.rejected_spans,
            error_message=decoded.error_message,
        )
    )


def _rejection_message(rejections: Counter[str]) -> str:
    if not rejections:
        return ""
    reasons = "; ".join(f"{count} with {reason}" for reason, count in rejections.items())
    return f"rejected {rejections.total()} span(s): {reasons}"


def _span(pb: trace_pb2.Span, resource: Resource, scope: InstrumentationScope) -> Span:
    return Span(
        trace_id=_required_id(pb.trace_id, _TRACE_ID_BYTES, "trace_id"),
        span_id=_required_id(pb.span_id, _SPAN_ID_BYTES, "span_id"),
        parent_span_id=_optional_id(pb.parent_span_id, _SPAN_ID_BYTES, "parent_span_id"),
        name=pb.name,
        start_time_unix_nano=pb.start_time_unix_nano,
        end_time_unix_nano=pb.end_time_unix_nano,
        kind=_SPAN_KINDS.get(pb.kind, SpanKind.UNSPECIFIED),
        attributes=_attributes(pb.attributes),
        status_code=_STATUS_CODES.get(pb.status.code, StatusCode.UNSET),
        status_message=pb.status.message,
        resource=resource,
        scope=scope,
        events=tuple(
            Event(
                time_unix_nano=event.time_unix_nano,
                name=event.name,
                attributes=_attributes(event.attributes),
                dropped_attributes_count=event.dropped_attributes_count,
            )
            for event in pb.events
        ),
        links=tuple(
            Link(
                trace_id=_optional_id(link.trace_id, _TRACE_ID_BYTES, "link trace_id"),
                span_id=_optional_id(link.span_id, _SPAN_ID_BYTES, "link span_id"),
                trace_state=link.trace_state,
                attributes=_attributes(link.attributes),
                dropped_attributes_count=link.dropped_attributes_count,
                flags=link.flags,
            )
            for link in pb.links
        ),
        trace_state=pb.trace_state,
        flags=pb.flags,
        dropped_attributes_count=pb.dropped_attributes_count,
        dropped_events_count=pb.dropped_events_count,
        dropped_links_count=pb.dropped_links_count,
    )


def _required_id(raw: bytes, size: int, field: str) -> str:
    if len(raw) != size or not any(raw):
        raise _RejectedSpan(
            f"an invalid {field} (must be {size} bytes, {2 * size} hex digits, not all zero)"
        )
    return raw.hex()


def _optional_id(raw: bytes, size: int, field: str) -> str:
    """Hex id, or "" when absent; all zero is W3C's "no id" and is absent too."""
    if not raw:
        return ""
    if len(raw) != size:
        raise _RejectedSpan(
            f"an invalid {field} (must be empty or {size} bytes, {2 * size} hex digits)"
        )
    return raw.hex() if any(raw) else ""


def _attributes(key_values: Iterable[KeyValue]) -> dict[str, AttributeValue]:
    return {kv.key: _value(kv.value) for kv in key_values}


def _value(value: AnyValue) -> AttributeValue:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value
    # Unset, or ``string_value_strindex``: an index into a profiles dictionary,
    # which trace requests do not carry, so there is no string to resolve it to.
    return None
