"""Decode OTLP trace export requests into spans (a ``SpanBatch`` of ``model.Span``s).

Protobuf bodies go to the C decoder first (``otlp_native``); what it leaves, and
OTLP/JSON, is decoded here with the protobuf runtime, the reference both must agree
with (``decode_protobuf_python``).

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1 import trace_pb2

from traceway.model import Link, Span, SpanKind, StatusCode
from traceway.receivers.otlp_json import request_from_json
from traceway.receivers.otlp_native import native_batch
from traceway.receivers.otlp_values import attributes as _attributes
from traceway.receivers.otlp_values import resource_of, scope_of
from traceway.receivers.otlp_values import value as _value
from traceway.storage.entry_column import EntryColumnBuilder, int_prefix, string_prefix
from traceway.storage.span_batch import SpanBatchBuilder
from traceway.storage.typed_json import dumps, encode_links, to_json

__all__ = [
    "DecodedSpans",
    "OtlpDecodeError",
    "decode_json",
    "decode_native",
    "decode_protobuf",
    "decode_protobuf_python",
    "decode_request",
    "export_response",
]

_TRACE_ID_BYTES = 16
_SPAN_ID_BYTES = 8
_ZERO_TRACE_ID = bytes(_TRACE_ID_BYTES)
_ZERO_SPAN_ID = bytes(_SPAN_ID_BYTES)
_SPAN_KIND_NUMBERS = {kind.value: kind.value for kind in SpanKind}
_STATUS_CODE_NUMBERS = {code.value: code.value for code in StatusCode}


class OtlpDecodeError(ValueError):
    """The body is not an OTLP trace export request; permanent, the client must not retry."""


@dataclass(frozen=True, slots=True)
class DecodedSpans:
    """The storable spans of one export request, and how many were rejected and why."""

    spans: Sequence[Span]
    rejected_spans: int = 0
    error_message: str = ""

    @classmethod
    def of(cls, spans: Sequence[Span], rejections: Counter[str]) -> DecodedSpans:
        """The spans kept, and the rejected ones counted by reason."""
        return cls(spans, rejections.total(), rejection_message(rejections))


class _RejectedSpan(ValueError):
    """A span that is well-formed protobuf but cannot be stored; the message is the reason."""


def decode_protobuf(body: bytes) -> DecodedSpans:
    """Decode an ``application/x-protobuf`` body (OTLP/HTTP, OTLP/gRPC) into spans:
    natively when ``otlp_native`` can, else with the protobuf runtime."""
    decoded = decode_native(body)
    return decode_protobuf_python(body) if decoded is None else decoded


def decode_native(body: bytes) -> DecodedSpans | None:
    """The spans of ``body`` decoded by ``otlp_native``, or None when it leaves the body
    to ``decode_protobuf_python`` (which then gives exactly the same spans or error)."""
    batch = native_batch(body)
    return None if batch is None else DecodedSpans(batch)


def decode_protobuf_python(body: bytes) -> DecodedSpans:
    """``decode_protobuf`` with the protobuf runtime only: the reference decoder."""
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
    """Turn a parsed export request into spans, rejecting those with unusable ids.

    The spans come as a ``SpanBatch``: columns built straight from the protobuf, so
    that storage can take them without a ``Span`` object per span.
    """
    builder = SpanBatchBuilder()
    (
        trace_ids, span_ids, parent_span_ids, names, kinds, starts, ends, status_codes,
        status_messages, resource_keys, scope_keys, _, _, events,
        links, trace_states, flags, dropped_attributes, dropped_events, dropped_links,
    ) = builder.columns  # fmt: skip
    entries = EntryColumnBuilder()
    add_entry, end_entries = entries.add, entries.end_span
    rejections: Counter[str] = Counter()
    for resource_spans in request.resource_spans:
        resource_key = builder.add_resource(
            *resource_of(resource_spans.resource.SerializeToString(), resource_spans.schema_url)
        )
        for scope_spans in resource_spans.scope_spans:
            scope_key = builder.add_scope(
                *scope_of(scope_spans.scope.SerializeToString(), scope_spans.schema_url)
            )
            for pb in scope_spans.spans:
                # The hot loop: one pass per span, appending to the columns.
                trace_id, span_id, parent_span_id = pb.trace_id, pb.span_id, pb.parent_span_id
                try:
                    if (
                        len(trace_id) != _TRACE_ID_BYTES
                        or len(span_id) != _SPAN_ID_BYTES
                        or trace_id == _ZERO_TRACE_ID
                        or span_id == _ZERO_SPAN_ID
                        or (parent_span_id and len(parent_span_id) != _SPAN_ID_BYTES)
                    ):
                        _check_ids(trace_id, span_id, parent_span_id)  # raises, saying why
                    span_links = _links_json(pb.links) if pb.links else None
                except _RejectedSpan as rejection:
                    rejections[str(rejection)] += 1
                    continue
                trace_ids.append(trace_id)
                span_ids.append(span_id)
                parent_span_ids.append(parent_span_id if parent_span_id.strip(b"\0") else None)
                names.append(pb.name)
                kinds.append(_SPAN_KIND_NUMBERS.get(pb.kind, 0))
                starts.append(pb.start_time_unix_nano)
                ends.append(pb.end_time_unix_nano)
                status = pb.status
                status_codes.append(_STATUS_CODE_NUMBERS.get(status.code, 0))
                status_messages.append(status.message)
                resource_keys.append(resource_key)
                scope_keys.append(scope_key)
                span_entries: dict[str, str] = {}
                for kv in pb.attributes:
                    key, value = kv.key, kv.value
                    # Most values are strings or integers of a known key: no WhichOneof.
                    if text := value.string_value:
                        if (prefix := string_prefix(key)) is not None:
                            span_entries[key] = prefix + text
                            continue
                    elif (prefix := int_prefix(key)) is not None:
                        if number := value.int_value:
                            span_entries[key] = prefix + str(number)
                            continue
                        if value.WhichOneof("value") == "int_value":
                            span_entries[key] = prefix + "0"
                            continue
                    add_entry(span_entries, key, _value(value))
                end_entries(span_entries)
                events.append(_events_json(pb.events) if pb.events else None)
                links.append(span_links)
                trace_states.append(pb.trace_state)
                flags.append(pb.flags)
                dropped_attributes.append(pb.dropped_attributes_count)
                dropped_events.append(pb.dropped_events_count)
                dropped_links.append(pb.dropped_links_count)
    attributes, attributes_extra = entries.build()
    return DecodedSpans.of(
        builder.build(attributes=attributes, attributes_extra=attributes_extra), rejections
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


def rejection_message(rejections: Counter[str]) -> str:
    """``rejected N span(s): n with reason; ...``, or empty when nothing was rejected."""
    if not rejections:
        return ""
    reasons = "; ".join(f"{count} with {reason}" for reason, count in rejections.items())
    return f"rejected {rejections.total()} span(s): {reasons}"


def _check_ids(trace_id: bytes, span_id: bytes, parent_span_id: bytes) -> None:
    _required_id(trace_id, _TRACE_ID_BYTES, "trace_id")
    _required_id(span_id, _SPAN_ID_BYTES, "span_id")
    _optional_id(parent_span_id, _SPAN_ID_BYTES, "parent_span_id")


def _events_json(pb_events: Iterable[trace_pb2.Span.Event]) -> str:
    """Events as ``typed_json.encode_events`` writes them, without ``Event`` objects."""
    return dumps(
        [
            [
                event.time_unix_nano,
                event.name,
                {
                    kv.key: kv.value.string_value or to_json(_value(kv.value))
                    for kv in event.attributes
                },
                event.dropped_attributes_count,
            ]
            for event in pb_events
        ]
    )


def _links_json(pb_links: Iterable[trace_pb2.Span.Link]) -> str | None:
    return encode_links(
        Link(
            trace_id=_optional_id(link.trace_id, _TRACE_ID_BYTES, "link trace_id"),
            span_id=_optional_id(link.span_id, _SPAN_ID_BYTES, "link span_id"),
            trace_state=link.trace_state,
            attributes=_attributes(link.attributes),
            dropped_attributes_count=link.dropped_attributes_count,
            flags=link.flags,
        )
        for link in pb_links
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
