"""Zipkin v2 spans as ``model.Span``s, the way the OpenTelemetry Collector maps them.

Both encodings (JSON and proto3) are first read into ``ZipkinSpan`` records, then
mapped by the rules of ``pkg/translator/zipkin`` in opentelemetry-collector-contrib:

* ``localEndpoint.serviceName`` → resource ``service.name``; tags that name resource
  attributes (``service.*``, ``host.*``, ``process.*``, ``telemetry.*``, ...: what
  OpenTelemetry's Zipkin exporters copy into tags) go back to the resource;
* a 64-bit ``traceId`` (16 hex digits) is padded to 128 bits with zeros, as Jaeger
  and the B3 propagators do, so spans of one trace sent over OTLP share it;
* ``kind`` → kind (``span.kind`` tag when ``kind`` is absent); ``localEndpoint`` ip and
  port → ``net.host.ip``/``net.host.port``; ``remoteEndpoint`` → ``peer.service``,
  ``net.peer.ip``, ``net.peer.port``;
* status: ``otel.status_code`` (``OK``/``ERROR``, also as ``STATUS_CODE_*``) and
  ``otel.status_description``; an ``error`` tag with any value but ``false`` is an
  error (Zipkin's convention, collector issue 16530), its value the message;
* ``otel.scope.name``/``otel.library.name`` and their versions → scope;
  ``w3c.tracestate`` → trace state; other tags stay attributes with their JSON types;
* annotations → events; the ``{"name": {attributes}}`` value OpenTelemetry's Zipkin
  exporters write is unpacked, any other value is the event's name;
* no ``timestamp`` → start at 0 and ``otel.zipkin.absentField.startTime=true``;
* ``shared`` (the server half of an RPC whose span id the client chose): Zipkin's
  client and server report one id, which storage would keep only once, so the
  server span gets its own id, derived from the trace and span ids (stable across
  retries), with the client span as its parent, as Jaeger's span-id deduper shows
  it; its children from the same service in the same request follow it.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from traceway.model import (
    AttributeValue,
    Event,
    InstrumentationScope,
    Resource,
    Span,
    SpanKind,
    StatusCode,
    is_valid_span_id,
    is_valid_trace_id,
)
from traceway.receivers.otlp_decode import DecodedSpans

__all__ = [
    "RejectedZipkinSpan",
    "ZipkinDecodeError",
    "ZipkinEndpoint",
    "ZipkinSpan",
    "decode_spans",
    "json_attribute",
]

_MAX_TIME_NS = (1 << 63) - 1
_INT64 = range(-(1 << 63), 1 << 63)
_HEX_DIGITS = frozenset("0123456789abcdef")
_KINDS = {
    "CLIENT": SpanKind.CLIENT,
    "SERVER": SpanKind.SERVER,
    "PRODUCER": SpanKind.PRODUCER,
    "CONSUMER": SpanKind.CONSUMER,
}
_TAG_KINDS = {name.lower(): kind for name, kind in _KINDS.items()} | {"internal": SpanKind.INTERNAL}
_STATUS_CODES = {
    "OK": StatusCode.OK,
    "ERROR": StatusCode.ERROR,
    "STATUS_CODE_OK": StatusCode.OK,
    "STATUS_CODE_ERROR": StatusCode.ERROR,
}
_RESOURCE_PREFIXES = (
    "service.",
    "telemetry.",
    "host.",
    "os.",
    "process.",
    "container.",
    "k8s.",
    "cloud.",
    "deployment.",
    "device.",
)
START_TIME_ABSENT = "otel.zipkin.absentField.startTime"

T = TypeVar("T")


class ZipkinDecodeError(ValueError):
    """The body is not a list of Zipkin v2 spans; permanent, the client must not retry."""


class RejectedZipkinSpan(ValueError):
    """One span that cannot be stored; the message is the reason. The others are kept."""


@dataclass(frozen=True, slots=True)
class ZipkinEndpoint:
    service_name: str = ""
    ipv4: str = ""
    ipv6: str = ""
    port: int = 0


@dataclass(frozen=True, slots=True)
class ZipkinSpan:
    """One Zipkin v2 span as either encoding carries it; ids are hex, times microseconds."""

    trace_id: str
    id: str
    parent_id: str = ""
    name: str = ""
    kind: str = ""
    timestamp: int = 0
    duration: int = 0
    local_endpoint: ZipkinEndpoint | None = None
    remote_endpoint: ZipkinEndpoint | None = None
    annotations: tuple[tuple[int, str], ...] = ()
    tags: dict[str, AttributeValue] = field(default_factory=dict)
    shared: bool = False


def json_attribute(value: object) -> AttributeValue:
    """A JSON value as an attribute: an int beyond 64 bits, which OTLP cannot hold,
    becomes its digits; lists and objects keep their structure."""
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return str(value)
    if isinstance(value, list):
        return [json_attribute(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_attribute(item) for key, item in value.items()}
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return str(value)


def decode_spans(items: Iterable[T], read: Callable[[T], ZipkinSpan]) -> DecodedSpans:
    """Read each item with ``read`` and map it; a span that cannot be stored is counted."""
    rejections: Counter[str] = Counter()
    spans: list[Span] = []
    shared: dict[tuple[str, str, str], str] = {}
    for item in items:
        try:
            record = read(item)
            span = _span(record)
        except RejectedZipkinSpan as rejection:
            rejections[str(rejection)] += 1
            continue
        if record.shared:
            own_id = _shared_span_id(span.trace_id, span.span_id)
            shared[(span.trace_id, span.span_id, span.service_name)] = own_id
            span = replace(span, span_id=own_id, parent_span_id=span.span_id)
        spans.append(span)
    if shared:
        spans = [_follow_shared_parent(span, shared) for span in spans]
    return DecodedSpans.of(tuple(spans), rejections)


def _shared_span_id(trace_id: str, span_id: str) -> str:
    digest = hashlib.blake2b(f"{trace_id}/{span_id}".encode(), digest_size=8).hexdigest()
    return digest if int(digest, 16) else "0000000000000001"


def _follow_shared_parent(span: Span, shared: dict[tuple[str, str, str], str]) -> Span:
    own_id = shared.get((span.trace_id, span.parent_span_id, span.service_name))
    if own_id is None or own_id == span.span_id:
        return span
    return replace(span, parent_span_id=own_id)


def _hex_id(value: str, digits: int, field_name: str) -> str:
    """A Zipkin id padded to ``digits``; Zipkin drops leading zeros and allows 64-bit trace ids."""
    text = value.lower()
    if not text or len(text) > digits or not _HEX_DIGITS.issuperset(text):
        raise RejectedZipkinSpan(f"an invalid {field_name} (1 to {digits} hex digits)")
    return text.rjust(digits, "0")


def _nanos(micros: int, field_name: str) -> int:
    nanos = micros * 1000
    if not 0 <= nanos <= _MAX_TIME_NS:
        raise RejectedZipkinSpan(f"a {field_name} out of range (microseconds since the epoch)")
    return nanos


def _resource(tags: dict[str, AttributeValue], endpoint: ZipkinEndpoint | None) -> Resource:
    attributes = {key: tags.pop(key) for key in list(tags) if key.startswith(_RESOURCE_PREFIXES)}
    if endpoint is not None and endpoint.service_name:
        attributes["service.name"] = endpoint.service_name
    return Resource(attributes=attributes)


def _scope(tags: dict[str, AttributeValue]) -> InstrumentationScope:
    name = version = ""
    for name_key, version_key in (
        ("otel.library.name", "otel.library.version"),
        ("otel.scope.name", "otel.scope.version"),
    ):
        if name_key in tags:
            name = str(tags.pop(name_key))
            version = str(tags.pop(version_key, ""))
    return InstrumentationScope(name=name, version=version)


def _kind(kind: str, tags: dict[str, AttributeValue]) -> SpanKind:
    tag = tags.pop("span.kind", None)
    if kind:
        return _KINDS.get(kind.upper(), SpanKind.UNSPECIFIED)
    if not isinstance(tag, str):
        return SpanKind.UNSPECIFIED
    return _TAG_KINDS.get(tag, SpanKind.UNSPECIFIED)


def _status(tags: dict[str, AttributeValue]) -> tuple[StatusCode, str]:
    code = StatusCode.UNSET
    message = ""
    if "otel.status_code" in tags:
        code = _STATUS_CODES.get(str(tags.pop("otel.status_code")).upper(), StatusCode.UNSET)
        message = str(tags.pop("otel.status_description", ""))
    error = tags.get("error")
    if error is not None and str(error).lower() != "false":
        del tags["error"]
        code = StatusCode.ERROR
        if not message and str(error).lower() not in ("", "true"):
            message = str(error)
    return code, message


def _endpoint_attributes(
    tags: dict[str, AttributeValue], local: ZipkinEndpoint | None, remote: ZipkinEndpoint | None
) -> None:
    if local is not None:
        if local.ipv4 or local.ipv6:
            tags["net.host.ip"] = local.ipv6 or local.ipv4
        if local.port > 0:
            tags["net.host.port"] = local.port
    if remote is not None:
        if remote.service_name:
            tags["peer.service"] = remote.service_name
        if remote.ipv4 or remote.ipv6:
            tags["net.peer.ip"] = remote.ipv6 or remote.ipv4
        if remote.port > 0:
            tags["net.peer.port"] = remote.port


def _event(timestamp: int, value: str) -> Event:
    """An annotation; OpenTelemetry exporters write ``{"name": {attributes}}`` as its value."""
    name = value
    attributes: dict[str, AttributeValue] = {}
    if value.startswith("{"):
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict) and len(decoded) == 1:
            ((key, fields),) = decoded.items()
            if isinstance(fields, dict):
                name = key
                attributes = {k: json_attribute(v) for k, v in fields.items() if v is not None}
    return Event(
        time_unix_nano=_nanos(timestamp, "annotation timestamp"), name=name, attributes=attributes
    )


def _span(record: ZipkinSpan) -> Span:
    trace_id = _hex_id(record.trace_id, 32, "traceId")
    span_id = _hex_id(record.id, 16, "id")
    if not is_valid_trace_id(trace_id) or not is_valid_span_id(span_id):
        raise RejectedZipkinSpan("a zero traceId or id")
    parent_id = _hex_id(record.parent_id, 16, "parentId") if record.parent_id else ""
    if parent_id == span_id or not is_valid_span_id(parent_id):
        parent_id = ""
    tags = dict(record.tags)
    resource = _resource(tags, record.local_endpoint)
    scope = _scope(tags)
    kind = _kind(record.kind, tags)
    status_code, status_message = _status(tags)
    trace_state = tags.pop("w3c.tracestate", "")
    _endpoint_attributes(tags, record.local_endpoint, record.remote_endpoint)
    start = _nanos(record.timestamp, "timestamp")
    if not record.timestamp:
        tags[START_TIME_ABSENT] = True
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_id,
        name=record.name,
        start_time_unix_nano=start,
        end_time_unix_nano=_nanos(record.timestamp + record.duration, "timestamp + duration"),
        kind=kind,
        attributes=tags,
        status_code=status_code,
        status_message=status_message,
        resource=resource,
        scope=scope,
        events=tuple(_event(timestamp, value) for timestamp, value in record.annotations),
        trace_state=str(trace_state),
    )
