"""Span rows read from DuckDB back into ``Span`` objects."""

from __future__ import annotations

from typing import Any

from traceway.model import InstrumentationScope, Resource, Span, SpanKind, StatusCode
from traceway.storage.duckdb.encoding import decode_attributes, decode_events, decode_links

__all__ = ["SPAN_COLUMNS", "SPAN_TABLES", "SpanDecoder"]

SPAN_TABLES = """
    spans s
    JOIN resources r ON r.resource_id = s.resource_id
    JOIN scopes c ON c.scope_id = s.scope_id
"""
"""The FROM clause ``SPAN_COLUMNS`` reads from."""

SPAN_COLUMNS = """
    s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_time_ns, s.duration_ns,
    s.status_code, s.status_message, s.attributes, s.events, s.links, s.trace_state, s.flags,
    s.dropped_attributes_count, s.dropped_events_count, s.dropped_links_count,
    r.resource_id, r.attributes, r.dropped_attributes_count, r.schema_url,
    c.scope_id, c.name, c.version, c.attributes, c.dropped_attributes_count, c.schema_url
"""
"""Everything a ``Span`` is made of, in the order ``SpanDecoder.span`` expects."""


class SpanDecoder:
    """Builds spans from rows; spans of one read share each decoded resource and scope."""

    def __init__(self) -> None:
        self._resources: dict[int, Resource] = {}
        self._scopes: dict[int, InstrumentationScope] = {}

    def _resource(self, row: tuple[Any, ...]) -> Resource:
        resource_id, attributes, dropped, schema_url = row
        if (resource := self._resources.get(resource_id)) is None:
            resource = Resource(decode_attributes(attributes), dropped, schema_url)
            self._resources[resource_id] = resource
        return resource

    def _scope(self, row: tuple[Any, ...]) -> InstrumentationScope:
        scope_id, name, version, attributes, dropped, schema_url = row
        if (scope := self._scopes.get(scope_id)) is None:
            scope = InstrumentationScope(
                name, version, decode_attributes(attributes), dropped, schema_url
            )
            self._scopes[scope_id] = scope
        return scope

    def span(self, row: tuple[Any, ...]) -> Span:
        """The span of one row of ``SPAN_COLUMNS``."""
        (
            trace_id,
            span_id,
            parent_span_id,
            name,
            kind,
            start,
            duration,
            status_code,
            status_message,
            attributes,
            events,
            links,
            trace_state,
            flags,
            dropped_attributes,
            dropped_events,
            dropped_links,
        ) = row[:17]
        return Span(
            trace_id=trace_id.hex(),
            span_id=span_id.hex(),
            parent_span_id=parent_span_id.hex() if parent_span_id is not None else "",
            name=name,
            kind=SpanKind(kind),
            start_time_unix_nano=start,
            end_time_unix_nano=start + duration,
            attributes=decode_attributes(attributes),
            status_code=StatusCode(status_code),
            status_message=status_message,
            resource=self._resource(row[17:21]),
            scope=self._scope(row[21:27]),
            events=decode_events(events),
            links=decode_links(links),
            trace_state=trace_state,
            flags=flags,
            dropped_attributes_count=dropped_attributes,
            dropped_events_count=dropped_events,
            dropped_links_count=dropped_links,
        )
