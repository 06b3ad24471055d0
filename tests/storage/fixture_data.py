"""Fixture traces and queries of the storage conformance suite, read from ``fixtures/``.

``traces.json`` names resources and scopes once and spans refer to them by name.
Times are milliseconds after ``base_time_unix_nano`` (``start_ms``, ``end_ms``,
``time_ms``); kinds and status codes are lowercase/uppercase names. Attribute
values are JSON, except ``{"$bytes": "<base64>"}``, which stands for bytes.
``queries.json`` holds searches (``*_ms`` fields relative to the same base, duration
bounds in milliseconds) with the trace ids they must find, in order; dependency
links as ``[parent, child, calls, errors, p95_ms]``; per-operation statistics as
``[service, operation, kind, count, errors, p50_ms, p95_ms, p99_ms]``.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path
from typing import Any

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
from traceway.storage.api import (
    DependencyLink,
    OperationQuery,
    OperationStats,
    StatsQuery,
    TraceQuery,
)

FIXTURES = Path(__file__).parent / "fixtures"
_MS = 1_000_000


@cache
def _document(name: str) -> dict[str, Any]:
    with (FIXTURES / name).open(encoding="utf-8") as file:
        document: dict[str, Any] = json.load(file)
    return document


def base_time_ns() -> int:
    return int(_document("traces.json")["base_time_unix_nano"])


def at_ms(offset_ms: int) -> int:
    """The nanosecond time ``offset_ms`` after the fixtures' base time."""
    return base_time_ns() + offset_ms * _MS


def _value(raw: Any) -> AttributeValue:
    if isinstance(raw, dict):
        if set(raw) == {"$bytes"}:
            return base64.b64decode(raw["$bytes"])
        return {key: _value(item) for key, item in raw.items()}
    if isinstance(raw, list):
        return [_value(item) for item in raw]
    return raw  # type: ignore[no-any-return]


def _attributes(raw: dict[str, Any] | None) -> dict[str, AttributeValue]:
    return {key: _value(item) for key, item in (raw or {}).items()}


def _resource(raw: dict[str, Any]) -> Resource:
    return Resource(
        attributes=_attributes(raw.get("attributes")),
        dropped_attributes_count=raw.get("dropped_attributes_count", 0),
        schema_url=raw.get("schema_url", ""),
    )


def _scope(raw: dict[str, Any]) -> InstrumentationScope:
    return InstrumentationScope(
        name=raw.get("name", ""),
        version=raw.get("version", ""),
        attributes=_attributes(raw.get("attributes")),
        dropped_attributes_count=raw.get("dropped_attributes_count", 0),
        schema_url=raw.get("schema_url", ""),
    )


def _span(raw: dict[str, Any], resources: dict[str, Resource], scopes: dict[str, Any]) -> Span:
    return Span(
        trace_id=raw["trace_id"],
        span_id=raw["span_id"],
        parent_span_id=raw.get("parent_span_id", ""),
        name=raw["name"],
        kind=SpanKind[raw["kind"].upper()],
        start_time_unix_nano=at_ms(raw["start_ms"]),
        end_time_unix_nano=at_ms(raw["end_ms"]),
        attributes=_attributes(raw.get("attributes")),
        status_code=StatusCode[raw.get("status", "UNSET")],
        status_message=raw.get("status_message", ""),
        resource=resources[raw["resource"]],
        scope=scopes[raw["scope"]] if "scope" in raw else InstrumentationScope(),
        events=tuple(
            Event(
                time_unix_nano=at_ms(event["time_ms"]),
                name=event["name"],
                attributes=_attributes(event.get("attributes")),
                dropped_attributes_count=event.get("dropped_attributes_count", 0),
            )
            for event in raw.get("events", [])
        ),
        links=tuple(
            Link(
                trace_id=link["trace_id"],
                span_id=link["span_id"],
                trace_state=link.get("trace_state", ""),
                attributes=_attributes(link.get("attributes")),
                dropped_attributes_count=link.get("dropped_attributes_count", 0),
                flags=link.get("flags", 0),
            )
            for link in raw.get("links", [])
        ),
        trace_state=raw.get("trace_state", ""),
        flags=raw.get("flags", 0),
        dropped_attributes_count=raw.get("dropped_attributes_count", 0),
        dropped_events_count=raw.get("dropped_events_count", 0),
        dropped_links_count=raw.get("dropped_links_count", 0),
    )


def load_spans() -> list[Span]:
    """Every fixture span, fresh objects on each call, in file order."""
    document = _document("traces.json")
    resources = {name: _resource(raw) for name, raw in document["resources"].items()}
    scopes = {name: _scope(raw) for name, raw in document["scopes"].items()}
    return [_span(raw, resources, scopes) for raw in document["spans"]]


def queries() -> dict[str, Any]:
    return _document("queries.json")


def trace_query(raw: dict[str, Any]) -> TraceQuery:
    """A ``TraceQuery`` from a query of ``queries.json``."""
    fields = dict(raw)
    for bound in ("start_time_min", "start_time_max"):
        if (offset := fields.pop(f"{bound}_ms", None)) is not None:
            fields[f"{bound}_ns"] = at_ms(offset)
    for bound in ("duration_min", "duration_max"):
        if (duration := fields.pop(f"{bound}_ms", None)) is not None:
            fields[f"{bound}_ns"] = duration * _MS
    return TraceQuery(**fields)


def operation_query(raw: dict[str, Any]) -> OperationQuery:
    kind = raw.get("span_kind")
    return OperationQuery(raw["service_name"], SpanKind[kind.upper()] if kind else None)


def stats_query(raw: dict[str, Any]) -> StatsQuery:
    return StatsQuery(at_ms(raw["start_ms"]), at_ms(raw["end_ms"]), raw.get("service_name"))


def operation_stats(raw: list[Any]) -> OperationStats:
    """``OperationStats`` from ``[service, operation, kind, count, errors, p50, p95, p99]``."""
    service, operation, kind, count, errors, p50, p95, p99 = raw
    return OperationStats(
        service, operation, SpanKind[kind.upper()], count, errors, p50 * _MS, p95 * _MS, p99 * _MS
    )


def dependency_link(raw: list[Any]) -> DependencyLink:
    """``DependencyLink`` from ``[parent, child, calls, errors, p95_ms]``."""
    parent, child, calls, errors, p95 = raw
    return DependencyLink(parent, child, calls, errors, p95 * _MS)
