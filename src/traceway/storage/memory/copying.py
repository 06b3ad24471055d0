"""Deep copies of spans, so nothing the store holds is shared with its callers."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from traceway.model import Attributes, AttributeValue, Span

__all__ = ["copy_span"]


def _copy_value(value: AttributeValue) -> AttributeValue:
    # Lists come back as lists and mappings as dicts, as from every other backend.
    if isinstance(value, Mapping):
        return _copy_attributes(value)
    if isinstance(value, list | tuple):
        return [_copy_value(item) for item in value]
    if value is None or isinstance(value, str | int | float | bytes):
        return value
    raise TypeError(f"unsupported attribute value type {type(value).__name__}")


def _copy_attributes(attributes: Attributes) -> dict[str, AttributeValue]:
    return {key: _copy_value(value) for key, value in attributes.items()}


def copy_span(span: Span) -> Span:
    """A copy of ``span`` that shares no mutable attribute container with it."""
    return dataclasses.replace(
        span,
        attributes=_copy_attributes(span.attributes),
        resource=dataclasses.replace(
            span.resource, attributes=_copy_attributes(span.resource.attributes)
        ),
        scope=dataclasses.replace(span.scope, attributes=_copy_attributes(span.scope.attributes)),
        events=tuple(
            dataclasses.replace(event, attributes=_copy_attributes(event.attributes))
            for event in span.events
        ),
        links=tuple(
            dataclasses.replace(link, attributes=_copy_attributes(link.attributes))
            for link in span.links
        ),
    )
