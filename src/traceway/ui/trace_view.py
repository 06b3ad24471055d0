"""The trace page's data: spans in tree order with everything they carry, as JSON.

Times are nanosecond offsets from the trace's start (JavaScript numbers are exact to
2**53, about 104 days); the start itself is decimal text for ``BigInt``. Attribute
values keep their type: each is ``[key, type, value]`` with type ``string``, ``bool``,
``int``, ``double``, ``bytes`` (base64), ``array``, ``map`` or ``null``; ints beyond
2**53 and non-finite doubles travel as text so that no digit is lost. ``omittedSpans``
counts the spans of a trace cut by the span limit that are not in ``spans``.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from typing import Any, TypeAlias

from traceway.model import AttributeValue, Resource, Span, Trace
from traceway.query.critical_path import critical_path_of
from traceway.query.span_tree import SpanTree
from traceway.query.summaries import TraceSummary
from traceway.storage.search_text import SPAN_KIND_TAG, STATUS_CODE_TAG
from traceway.ui.formatting import colour_of

__all__ = ["TypedAttribute", "trace_view", "typed_attributes"]

TypedAttribute: TypeAlias = list[Any]  # [key, type, value]
_JS_SAFE = 2**53 - 1


def _json_value(value: AttributeValue) -> tuple[str, Any]:
    if value is None:
        return "null", None
    if isinstance(value, bool):
        return "bool", value
    if isinstance(value, int):
        return "int", value if -_JS_SAFE <= value <= _JS_SAFE else str(value)
    if isinstance(value, float):
        return "double", value if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        return "bytes", base64.b64encode(value).decode("ascii")
    if isinstance(value, str):
        return "string", value
    if isinstance(value, list):
        return "array", [_json_value(item)[1] for item in value]
    return "map", {key: _json_value(item)[1] for key, item in value.items()}


def typed_attributes(attributes: Mapping[str, AttributeValue]) -> list[TypedAttribute]:
    """Attributes as ``[key, type, value]``, in their stored order."""
    return [[key, *_json_value(value)] for key, value in attributes.items()]


def _warnings(span: Span, tree: SpanTree) -> list[str]:
    warnings: list[str] = []
    parent = tree.parent_of(span)
    if span.parent_span_id and parent is None:
        warnings.append(f"parent span {span.parent_span_id} is not in this trace (yet)")
    if parent is not None:
        if span.start_time_unix_nano < parent.start_time_unix_nano:
            warnings.append("starts before its parent (clock skew between hosts?)")
        if span.end_time_unix_nano > parent.end_time_unix_nano:
            warnings.append("ends after its parent")
    if span.end_time_unix_nano < span.start_time_unix_nano:
        warnings.append("ends before it starts")
    return warnings


class _Resources:
    """Distinct resources of a trace, each sent once and referred to by index."""

    def __init__(self) -> None:
        self.indexes: dict[str, int] = {}
        self.items: list[dict[str, Any]] = []
        # Spans read from storage share Resource objects (alive as long as the trace):
        # each object's key is worked out once.
        self._by_object: dict[int, int] = {}

    def index(self, resource: Resource) -> int:
        index = self._by_object.get(id(resource))
        if index is not None:
            return index
        attributes = typed_attributes(resource.attributes)
        key = json.dumps([attributes, resource.schema_url], sort_keys=True)
        index = self.indexes.get(key)
        if index is None:
            index = self.indexes[key] = len(self.items)
            self.items.append({"attributes": attributes, "schemaUrl": resource.schema_url})
        self._by_object[id(resource)] = index
        return index


def trace_view(
    trace: Trace,
    summary: TraceSummary,
    colours: dict[str, int],
    tree: SpanTree | None = None,
) -> dict[str, Any]:
    """Everything the trace page draws, as JSON-ready data; ``tree``, when given, is the
    trace's already built ``SpanTree``."""
    start = trace.start_time_unix_nano
    if tree is None:
        tree = SpanTree.of(trace)
    nodes = tree.nodes()
    index_of = {node.span.span_id: i for i, node in enumerate(nodes)}
    service_names = [s.service_name for s in summary.services]
    service_index = {name: i for i, name in enumerate(service_names)}
    resources = _Resources()
    spans = []
    for node in nodes:
        span = node.span
        spans.append(
            {
                "id": span.span_id,
                "parentId": span.parent_span_id,
                "parent": node.parent_index,
                "depth": node.depth,
                "descendants": node.descendants,
                "service": service_index[span.service_name],
                "name": span.name,
                "kind": SPAN_KIND_TAG.get(span.kind, "unspecified"),
                "start": span.start_time_unix_nano - start,
                "end": max(span.end_time_unix_nano, span.start_time_unix_nano) - start,
                "error": span.is_error,
                "status": STATUS_CODE_TAG.get(span.status_code, "UNSET"),
                "statusMessage": span.status_message,
                "attributes": typed_attributes(span.attributes),
                "resource": resources.index(span.resource),
                "scope": {"name": span.scope.name, "version": span.scope.version},
                "events": [
                    {
                        "time": event.time_unix_nano - start,
                        "name": event.name,
                        "attributes": typed_attributes(event.attributes),
                    }
                    for event in span.events
                ],
                "links": [
                    {
                        "traceId": link.trace_id,
                        "spanId": link.span_id,
                        "attributes": typed_attributes(link.attributes),
                    }
                    for link in span.links
                ],
                "traceState": span.trace_state,
                "flags": span.flags,
                "dropped": {
                    "attributes": span.dropped_attributes_count,
                    "events": span.dropped_events_count,
                    "links": span.dropped_links_count,
                },
                "warnings": _warnings(span, tree),
            }
        )
    return {
        "traceId": trace.trace_id,
        "startNs": str(start),
        "durationNs": trace.duration_ns,
        "omittedSpans": trace.omitted_span_count,
        "services": [
            {
                "name": s.service_name,
                "colour": colour_of(s.service_name, colours),
                "spans": s.span_count,
                "errors": s.error_count,
            }
            for s in summary.services
        ],
        "spans": spans,
        "resources": resources.items,
        "criticalPath": [
            [index_of[segment.span_id], segment.start_ns - start, segment.end_ns - start]
            for segment in critical_path_of(tree)
        ],
    }
