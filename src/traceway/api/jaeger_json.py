"""traceway's model as Jaeger's UI JSON (``model/json`` in jaegertracing/jaeger).

Spans get the tags Jaeger's OTLP translator adds (``pkg/translator/jaeger`` in
opentelemetry-collector-contrib): ``otel.scope.name``/``otel.scope.version`` first,
then the attributes, then ``span.kind``, ``otel.status_code``, ``error`` (bool, on
error spans), ``otel.status_description``, ``w3c.tracestate`` and the
``otel.dropped_*_count`` tags; a derived tag replaces an attribute of the same key.
The parent is the first reference (``CHILD_OF``, kept even when the parent span is
missing from the trace), links follow as ``FOLLOWS_FROM``. Events become logs whose
``event`` field holds the event name, unless an attribute named ``event`` exists.
Each distinct resource becomes one process (``p1``, ``p2``, ... in span order). A trace
cut by the span limit says so in its ``warnings`` (``query.span_limit.cut_notice``).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, TypeAlias, TypedDict

from traceway.model import AttributeValue, Event, Resource, Span, SpanKind, StatusCode, Trace
from traceway.query.span_limit import cut_notice
from traceway.storage.api import DependencyLink, Operation
from traceway.storage.search_text import SPAN_KIND_TAG, STATUS_CODE_TAG

__all__ = [
    "JaegerDependencyLink",
    "JaegerLog",
    "JaegerOperation",
    "JaegerProcess",
    "JaegerReference",
    "JaegerSpan",
    "JaegerTag",
    "JaegerTrace",
    "dependency_to_json",
    "operation_to_json",
    "span_kind_name",
    "tag",
    "trace_to_json",
    "traces_to_json",
]

TagType: TypeAlias = Literal["string", "bool", "int64", "float64", "binary"]
TagValue: TypeAlias = str | bool | int | float

# JavaScript clients lose precision beyond 2**53; Jaeger then sends the int as text.
_JS_MAX_SAFE_INTEGER = 2**53 - 1


class JaegerTag(TypedDict):
    key: str
    type: TagType
    value: TagValue


class JaegerReference(TypedDict):
    refType: Literal["CHILD_OF", "FOLLOWS_FROM"]
    traceID: str
    spanID: str


class JaegerLog(TypedDict):
    timestamp: int
    fields: list[JaegerTag]


class JaegerSpan(TypedDict):
    traceID: str
    spanID: str
    operationName: str
    references: list[JaegerReference]
    startTime: int
    duration: int
    tags: list[JaegerTag]
    logs: list[JaegerLog]
    processID: str
    warnings: list[str] | None
    flags: int


class JaegerProcess(TypedDict):
    serviceName: str
    tags: list[JaegerTag]


class JaegerTrace(TypedDict):
    traceID: str
    spans: list[JaegerSpan]
    processes: dict[str, JaegerProcess]
    warnings: list[str] | None


class JaegerOperation(TypedDict):
    name: str
    spanKind: str


class JaegerDependencyLink(TypedDict):
    parent: str
    child: str
    callCount: int


def span_kind_name(kind: SpanKind) -> str:
    """Jaeger's name of a span kind (``server``, ...); empty for ``UNSPECIFIED``."""
    return SPAN_KIND_TAG.get(kind, "")


def _json_text(value: AttributeValue) -> object:
    """An attribute value as plain JSON data, for lists and maps rendered as text."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_json_text(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_text(item) for key, item in value.items()}
    return value


def tag(key: str, value: AttributeValue) -> JaegerTag:
    """One typed Jaeger tag; lists and maps become JSON text, bytes base64 (as Jaeger)."""
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        safe = -_JS_MAX_SAFE_INTEGER <= value <= _JS_MAX_SAFE_INTEGER
        return {"key": key, "type": "int64", "value": value if safe else str(value)}
    if isinstance(value, float):
        return {
            "key": key,
            "type": "float64",
            "value": value if math.isfinite(value) else str(value),
        }
    if isinstance(value, bytes):
        return {"key": key, "type": "binary", "value": base64.b64encode(value).decode("ascii")}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    if value is None:
        return {"key": key, "type": "string", "value": ""}
    text = json.dumps(_json_text(value), ensure_ascii=False, separators=(",", ":"))
    return {"key": key, "type": "string", "value": text}


def _tags(attributes: Mapping[str, AttributeValue], skip: Iterable[str] = ()) -> list[JaegerTag]:
    skipped = set(skip)
    return [tag(key, value) for key, value in attributes.items() if key not in skipped]


def _derived_tags(span: Span) -> list[JaegerTag]:
    derived: list[JaegerTag] = []
    if span.kind is not SpanKind.UNSPECIFIED:
        derived.append(tag("span.kind", span_kind_name(span.kind)))
    if span.status_code in STATUS_CODE_TAG:
        derived.append(tag("otel.status_code", STATUS_CODE_TAG[span.status_code]))
    if span.status_code is StatusCode.ERROR:
        derived.append(tag("error", True))
    if span.status_message:
        derived.append(tag("otel.status_description", span.status_message))
    if span.trace_state:
        derived.append(tag("w3c.tracestate", span.trace_state))
    for name, count in (
        ("otel.dropped_attributes_count", span.dropped_attributes_count),
        ("otel.dropped_events_count", span.dropped_events_count),
        ("otel.dropped_links_count", span.dropped_links_count),
    ):
        if count:
            derived.append(tag(name, count))
    return derived


def _span_tags(span: Span) -> list[JaegerTag]:
    scope: list[JaegerTag] = []
    if span.scope.name:
        scope.append(tag("otel.scope.name", span.scope.name))
    if span.scope.version:
        scope.append(tag("otel.scope.version", span.scope.version))
    derived = _derived_tags(span)
    replaced = {t["key"] for t in scope} | {t["key"] for t in derived}
    return scope + _tags(span.attributes, skip=replaced) + derived


def _log(event: Event) -> JaegerLog:
    fields = _tags(event.attributes)
    if event.name and "event" not in event.attributes:
        fields.insert(0, tag("event", event.name))
    return {"timestamp": event.time_unix_nano // 1000, "fields": fields}


def _references(span: Span) -> list[JaegerReference]:
    references: list[JaegerReference] = []
    if span.parent_span_id:
        references.append(
            {"refType": "CHILD_OF", "traceID": span.trace_id, "spanID": span.parent_span_id}
        )
    references.extend(
        {"refType": "FOLLOWS_FROM", "traceID": link.trace_id, "spanID": link.span_id}
        for link in span.links
    )
    return references


def _span(span: Span, process_id: str) -> JaegerSpan:
    start_us = span.start_time_unix_nano // 1000
    return {
        "traceID": span.trace_id,
        "spanID": span.span_id,
        "operationName": span.name,
        "references": _references(span),
        "startTime": start_us,
        "duration": span.duration_ns // 1000,
        "tags": _span_tags(span),
        "logs": [_log(event) for event in span.events],
        "processID": process_id,
        "warnings": None,
        # W3C trace flags only (sampled = 1, as Jaeger's); OTLP's higher bits stay out.
        "flags": span.flags & 0xFF,
    }


def _process_key(resource: Resource) -> str:
    # Attribute values may be lists or dicts (unhashable): compare their JSON text.
    items = [tag(key, resource.attributes[key]) for key in sorted(resource.attributes)]
    return json.dumps([resource.service_name, items], sort_keys=True)


def _process(resource: Resource) -> JaegerProcess:
    return {
        "serviceName": resource.service_name,
        "tags": _tags(resource.attributes, skip=("service.name",)),
    }


def trace_to_json(trace: Trace) -> JaegerTrace:
    """A trace in Jaeger's JSON, its resources folded into numbered processes."""
    process_ids: dict[str, str] = {}
    processes: dict[str, JaegerProcess] = {}
    spans: list[JaegerSpan] = []
    # Spans read from storage share Resource objects: fold each object's key once.
    by_object: dict[int, str] = {}
    for span in trace.spans:
        process_id = by_object.get(id(span.resource))
        if process_id is None:
            key = _process_key(span.resource)
            process_id = process_ids.get(key)
            if process_id is None:
                process_id = process_ids[key] = f"p{len(process_ids) + 1}"
                processes[process_id] = _process(span.resource)
            by_object[id(span.resource)] = process_id
        spans.append(_span(span, process_id))
    notice = cut_notice(len(trace.spans), trace.total_span_count)
    return {
        "traceID": trace.trace_id,
        "spans": spans,
        "processes": processes,
        "warnings": None if notice is None else [notice],
    }


def traces_to_json(traces: Sequence[Trace]) -> list[JaegerTrace]:
    """Search results in Jaeger's JSON, in the order given."""
    return [trace_to_json(trace) for trace in traces]


def operation_to_json(operation: Operation) -> JaegerOperation:
    return {"name": operation.name, "spanKind": span_kind_name(operation.span_kind)}


def dependency_to_json(link: DependencyLink) -> JaegerDependencyLink:
    return {"parent": link.parent, "child": link.child, "callCount": link.call_count}
