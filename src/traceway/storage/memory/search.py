"""Search semantics of ``TraceQuery`` on one span, written out plainly."""

from __future__ import annotations

from traceway.model import Span, StatusCode
from traceway.storage.api import TraceQuery
from traceway.storage.search_text import derived_tags, tag_text

__all__ = ["span_matches"]


def _has_tag(span: Span, key: str, value: str) -> bool:
    if key in span.attributes and tag_text(span.attributes[key]) == value:
        return True
    resource_attributes = span.resource.attributes
    if key in resource_attributes and tag_text(resource_attributes[key]) == value:
        return True
    return derived_tags(span.kind, span.status_code).get(key) == value


def span_matches(span: Span, query: TraceQuery) -> bool:
    """Whether this one span satisfies every condition set in ``query``."""
    start = span.start_time_unix_nano
    duration = span.duration_ns
    return (
        (query.service_name is None or span.service_name == query.service_name)
        and (query.operation_name is None or span.name == query.operation_name)
        and (query.start_time_min_ns is None or start >= query.start_time_min_ns)
        and (query.start_time_max_ns is None or start <= query.start_time_max_ns)
        and (query.duration_min_ns is None or duration >= query.duration_min_ns)
        and (query.duration_max_ns is None or duration <= query.duration_max_ns)
        and (not query.errors_only or span.status_code is StatusCode.ERROR)
        and all(_has_tag(span, key, value) for key, value in query.tags.items())
    )
