"""Jaeger Thrift spans as ``model.Span``s, the way the OpenTelemetry Collector maps them.

The rules are those of ``pkg/translator/jaeger`` in opentelemetry-collector-contrib:

* the batch's process is the resource: ``serviceName`` → ``service.name``, its tags
  → typed attributes, ``hostname`` → ``host.name``;
* ``traceIdHigh``/``traceIdLow`` make the 128-bit trace id; a 64-bit id (high = 0)
  becomes 16 zeros and the id, as Jaeger pads it and as the B3 and Jaeger
  propagators do, so spans of one trace sent over OTLP share it;
* the parent is ``parentSpanId``, else the first ``CHILD_OF`` reference in the same
  trace, else the first ``FOLLOWS_FROM`` one; every other reference is a link whose
  ``opentracing.ref_type`` attribute says ``child_of`` or ``follows_from``;
* tags are attributes with their Thrift types, except those that say what OTLP has
  fields for: ``span.kind`` → kind; ``error`` (bool true), ``otel.status_code``,
  ``otel.status_description`` and, failing those, ``http.status_code`` → status;
  ``otel.scope.name``/``otel.scope.version`` → scope; ``w3c.tracestate`` → trace state;
* logs are events, named by their ``event`` field.

A span without a usable trace id, span id or time is rejected and counted; the rest
of the batch is kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, MutableMapping

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
from traceway.receivers.jaeger_thrift import (
    ThriftBatch,
    ThriftLog,
    ThriftProcess,
    ThriftSpan,
    ThriftSpanRef,
    ThriftTag,
)
from traceway.receivers.otlp_decode import DecodedSpans

__all__ = ["spans_from_batch"]

_U64 = (1 << 64) - 1
_MAX_TIME_NS = (1 << 63) - 1
_CHILD_OF, _FOLLOWS_FROM = 0, 1
_STRING, _DOUBLE, _BOOL, _LONG, _BINARY = 0, 1, 2, 3, 4
_SAMPLED = 0x01

_SPAN_KINDS = {
    "client": SpanKind.CLIENT,
    "server": SpanKind.SERVER,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
    "internal": SpanKind.INTERNAL,
}
_REF_TYPES = {_CHILD_OF: "child_of", _FOLLOWS_FROM: "follows_from"}

SPAN_KIND = "span.kind"
ERROR = "error"
STATUS_CODE = "otel.status_code"
STATUS_DESCRIPTION = "otel.status_description"
HTTP_STATUS_CODE = "http.status_code"
HTTP_STATUS_MESSAGE = "http.status_message"
SCOPE_NAME = "otel.scope.name"
SCOPE_VERSION = "otel.scope.version"
TRACE_STATE = "w3c.tracestate"
REF_TYPE = "opentracing.ref_type"
EVENT_NAME = "event"


class _RejectedSpan(ValueError):
    """A span that decodes but cannot be stored; the message is the reason."""


def spans_from_batch(batch: ThriftBatch) -> DecodedSpans:
    """The storable spans of a Jaeger batch, and how many were rejected and why."""
    resource = _resource(batch.process)
    spans: list[Span] = []
    rejections: Counter[str] = Counter()
    for thrift_span in batch.spans or ():
        try:
            spans.append(_span(thrift_span, resource))
        except _RejectedSpan as rejection:
            rejections[str(rejection)] += 1
    return DecodedSpans.of(tuple(spans), rejections)


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value or ""


def _tag_value(tag: ThriftTag) -> AttributeValue:
    if tag.vType == _STRING:
        return _text(tag.vStr)
    if tag.vType == _DOUBLE:
        return float(tag.vDouble or 0.0)
    if tag.vType == _BOOL:
        return bool(tag.vBool)
    if tag.vType == _LONG:
        return int(tag.vLong or 0)
    if tag.vType == _BINARY:
        raw = tag.vBinary
        return raw.encode() if isinstance(raw, str) else (raw or b"")
    return f"<Unknown Jaeger TagType {tag.vType}>"


def _attributes(tags: Iterable[ThriftTag | None] | None) -> dict[str, AttributeValue]:
    return {_text(tag.key): _tag_value(tag) for tag in tags or () if tag is not None}


def _resource(process: ThriftProcess | None) -> Resource:
    if process is None:
        return Resource()
    attributes: dict[str, AttributeValue] = {}
    if service := _text(process.serviceName):
        attributes["service.name"] = service
    attributes.update(_attributes(process.tags))
    if "hostname" in attributes and "host.name" not in attributes:
        attributes["host.name"] = attributes.pop("hostname")
    return Resource(attributes=attributes)


def _trace_id(high: int | None, low: int | None) -> str:
    return f"{(high or 0) & _U64:016x}{(low or 0) & _U64:016x}"


def _span_id(value: int | None) -> str:
    return f"{(value or 0) & _U64:016x}"


def _nanos(micros: int | None, field: str) -> int:
    nanos = (micros or 0) * 1000
    if not 0 <= nanos <= _MAX_TIME_NS:
        raise _RejectedSpan(f"a {field} out of range (microseconds since the epoch, >= 0)")
    return nanos


def _parent_id(span: ThriftSpan) -> int:
    """``parentSpanId``, else a reference in the same trace, ``CHILD_OF`` first."""
    if span.parentSpanId:
        return span.parentSpanId
    same_trace = [
        ref
        for ref in span.references or ()
        if ref is not None
        and ref.traceIdHigh == span.traceIdHigh
        and ref.traceIdLow == span.traceIdLow
    ]
    for ref_type in (_CHILD_OF, _FOLLOWS_FROM):
        for ref in same_trace:
            if ref.refType == ref_type and ref.spanId:
                return ref.spanId
    return 0


def _links(references: Iterable[ThriftSpanRef | None] | None, parent: int) -> tuple[Link, ...]:
    links: list[Link] = []
    for ref in references or ():
        if ref is None or not ref.spanId or (ref.refType == _CHILD_OF and ref.spanId == parent):
            continue
        trace_id = _trace_id(ref.traceIdHigh, ref.traceIdLow)
        if not int(trace_id, 16):
            continue
        links.append(
            Link(
                trace_id=trace_id,
                span_id=_span_id(ref.spanId),
                attributes={REF_TYPE: _REF_TYPES.get(ref.refType or 0, "follows_from")},
            )
        )
    return tuple(links)


def _events(logs: Iterable[ThriftLog | None] | None) -> tuple[Event, ...]:
    events: list[Event] = []
    for log in logs or ():
        if log is None:
            continue
        attributes = _attributes(log.fields)
        name = attributes.get(EVENT_NAME)
        if isinstance(name, str):
            del attributes[EVENT_NAME]
        events.append(
            Event(
                time_unix_nano=_nanos(log.timestamp, "log timestamp"),
                name=name if isinstance(name, str) else "",
                attributes=attributes,
            )
        )
    return tuple(events)


def _kind(attributes: MutableMapping[str, AttributeValue]) -> SpanKind:
    value = attributes.pop(SPAN_KIND, None)
    if not isinstance(value, str):
        return SpanKind.UNSPECIFIED
    return _SPAN_KINDS.get(value, SpanKind.UNSPECIFIED)


def _http_status(value: AttributeValue, kind: SpanKind) -> StatusCode:
    """OpenTelemetry's HTTP rule: 4xx is an error for clients only, 5xx for everyone."""
    try:
        code = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else 0
    except ValueError:
        return StatusCode.UNSET
    if 100 <= code < 400 or (400 <= code < 500 and kind is SpanKind.SERVER):
        return StatusCode.UNSET
    return StatusCode.ERROR


def _status(
    attributes: MutableMapping[str, AttributeValue], kind: SpanKind
) -> tuple[StatusCode, str]:
    """The collector's order: ``error=true`` wins, then ``otel.status_code``, then HTTP."""
    if attributes.get(ERROR) is True:
        del attributes[ERROR]
        attributes.pop(STATUS_CODE, None)
        if STATUS_DESCRIPTION in attributes:
            return StatusCode.ERROR, str(attributes.pop(STATUS_DESCRIPTION))
        return StatusCode.ERROR, str(attributes.get(HTTP_STATUS_MESSAGE, ""))
    if STATUS_CODE in attributes:
        code = {"OK": StatusCode.OK, "ERROR": StatusCode.ERROR}.get(
            str(attributes.pop(STATUS_CODE)).upper(), StatusCode.UNSET
        )
        return code, str(attributes.pop(STATUS_DESCRIPTION, ""))
    if HTTP_STATUS_CODE in attributes:
        code = _http_status(attributes[HTTP_STATUS_CODE], kind)
        if code is StatusCode.ERROR:
            return code, str(attributes.get(HTTP_STATUS_MESSAGE, ""))
    return StatusCode.UNSET, ""


def _scope(attributes: MutableMapping[str, AttributeValue]) -> InstrumentationScope:
    name = attributes.get(SCOPE_NAME)
    if not isinstance(name, str):
        return InstrumentationScope()
    del attributes[SCOPE_NAME]
    version = attributes.pop(SCOPE_VERSION, "")
    return InstrumentationScope(name=name, version=version if isinstance(version, str) else "")


def _span(span: ThriftSpan, resource: Resource) -> Span:
    trace_id = _trace_id(span.traceIdHigh, span.traceIdLow)
    if not int(trace_id, 16):
        raise _RejectedSpan("a zero trace id")
    if not span.spanId:
        raise _RejectedSpan("a zero span id")
    start = _nanos(span.startTime, "startTime")
    end = _nanos((span.startTime or 0) + (span.duration or 0), "startTime + duration")
    parent = _parent_id(span)
    attributes = _attributes(span.tags)
    kind = _kind(attributes)
    status_code, status_message = _status(attributes, kind)
    scope = _scope(attributes)
    trace_state = attributes.pop(TRACE_STATE, "")
    return Span(
        trace_id=trace_id,
        span_id=_span_id(span.spanId),
        parent_span_id=_span_id(parent) if parent else "",
        name=_text(span.operationName),
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        kind=kind,
        attributes=attributes,
        status_code=status_code,
        status_message=status_message,
        resource=resource,
        scope=scope,
        events=_events(span.logs),
        links=_links(span.references, parent),
        trace_state=trace_state if isinstance(trace_state, str) else "",
        flags=(span.flags or 0) & _SAMPLED,
    )
