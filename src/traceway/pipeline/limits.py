"""Limits on what one span may carry, so that one sender cannot fill the store or the UI.

A span over a limit is never refused; it is cut down the way OpenTelemetry SDKs cut:

* attributes beyond ``max_attributes`` are dropped (the first ones stay) and counted
  in ``dropped_attributes_count``; the same holds for the attributes of each event,
  link, resource and scope;
* events and links beyond ``max_events``/``max_links`` are dropped (the most recent
  stay) and counted in ``dropped_events_count``/``dropped_links_count``;
* a string longer than ``max_attribute_length`` characters, or bytes longer than that
  many bytes, is cut to that length, also inside lists and maps; the attribute map
  that held it gets ``traceway.truncated_attributes``: the list of the cut keys.

``None`` turns a limit off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from itertools import islice
from typing import TypeVar

from traceway.model import (
    Attributes,
    AttributeValue,
    Event,
    InstrumentationScope,
    Link,
    Resource,
    Span,
)
from traceway.pipeline import batch_screen
from traceway.pipeline.span_rewrite import SpanRewriter
from traceway.storage.span_batch import SpanBatch

__all__ = [
    "DEFAULT_MAX_ATTRIBUTES",
    "DEFAULT_MAX_ATTRIBUTE_LENGTH",
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_MAX_LINKS",
    "TRUNCATED_ATTRIBUTES",
    "SpanLimiter",
    "SpanLimits",
]

DEFAULT_MAX_ATTRIBUTES = 128
# Longer than OpenTelemetry's usual 4096 examples: a Python exception.stacktrace often
# is, and cutting it keeps its start, so the line that raised would be lost.
DEFAULT_MAX_ATTRIBUTE_LENGTH = 16384
DEFAULT_MAX_EVENTS = 128
DEFAULT_MAX_LINKS = 128

TRUNCATED_ATTRIBUTES = "traceway.truncated_attributes"
"""Added to an attribute map whose values were cut: the keys of those values."""

# The fewest bytes of one event or link, and of one attribute, in their typed JSON
# (``[0,"",{},0]``, ``"":0``): shorter text cannot hold more than a limit of them.
_MIN_ITEM_BYTES = 11
_MIN_ATTRIBUTE_BYTES = 4

_Item = TypeVar("_Item", Event, Link)
_Owner = TypeVar("_Owner", Resource, InstrumentationScope)


@dataclass(frozen=True, slots=True)
class SpanLimits:
    """How much one span may carry; None turns a limit off."""

    max_attributes: int | None = DEFAULT_MAX_ATTRIBUTES
    max_attribute_length: int | None = DEFAULT_MAX_ATTRIBUTE_LENGTH
    max_events: int | None = DEFAULT_MAX_EVENTS
    max_links: int | None = DEFAULT_MAX_LINKS

    def __post_init__(self) -> None:
        for name in ("max_attributes", "max_attribute_length", "max_events", "max_links"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, or None for no limit")

    @property
    def enabled(self) -> bool:
        return any(
            limit is not None
            for limit in (
                self.max_attributes,
                self.max_attribute_length,
                self.max_events,
                self.max_links,
            )
        )


class SpanLimiter(SpanRewriter):
    """The processor that holds spans to ``SpanLimits``."""

    def __init__(self, limits: SpanLimits) -> None:
        super().__init__(limits)
        self.limits = limits

    def screen(self, batch: SpanBatch) -> Iterable[int]:
        limits, table = self.limits, batch.table
        most_attributes, longest = limits.max_attributes, limits.max_attribute_length
        rows: list[int] = []
        attributes = table.column("attributes")
        if most_attributes is not None:
            rows += batch_screen.list_length_above_rows(attributes, most_attributes)
        if longest is not None:
            # An entry is key, type and value text: longer than any value it holds.
            rows += batch_screen.entry_length_above(attributes, longest)
        for name, most in (("events", limits.max_events), ("links", limits.max_links)):
            column = table.column(name)  # typed JSON: [[...], [...]]
            size = batch_screen.longest(column)
            if size is None:
                continue
            if longest is not None and size > longest:
                rows += batch_screen.length_above_rows(column, longest)
            if most is not None and size >= _MIN_ITEM_BYTES * (most + 1):
                # Every item opens a bracket, as does the list: more items, more brackets.
                rows += batch_screen.count_above_rows(column, "[", most + 1)
            if most_attributes is not None and size >= _MIN_ATTRIBUTE_BYTES * (most_attributes + 1):
                # Every attribute key in the JSON ends with '":'.
                rows += batch_screen.count_above_rows(column, '":', most_attributes)
        return rows

    def rewrite_span(self, span: Span) -> Span:
        attributes, dropped = self._limit(span.attributes)
        events, dropped_events = self._items(span.events, self.limits.max_events)
        links, dropped_links = self._items(span.links, self.limits.max_links)
        if (
            attributes is span.attributes
            and events is span.events
            and links is span.links
            and not dropped
        ):
            return span
        return replace(
            span,
            attributes=attributes,
            dropped_attributes_count=span.dropped_attributes_count + dropped,
            events=events,
            dropped_events_count=span.dropped_events_count + dropped_events,
            links=links,
            dropped_links_count=span.dropped_links_count + dropped_links,
        )

    def rewrite_resource_or_scope(self, owner: _Owner) -> _Owner:
        attributes, dropped = self._limit(owner.attributes)
        if attributes is owner.attributes:
            return owner
        return replace(
            owner,
            attributes=attributes,
            dropped_attributes_count=owner.dropped_attributes_count + dropped,
        )

    def _items(self, items: tuple[_Item, ...], most: int | None) -> tuple[tuple[_Item, ...], int]:
        """The most recent ``most`` items, each with its attributes limited."""
        dropped = 0
        if most is not None and len(items) > most:
            dropped = len(items) - most
            items = items[-most:]
        limited = tuple(self._item(item) for item in items)
        if not dropped and all(new is old for new, old in zip(limited, items, strict=True)):
            return items, 0
        return limited, dropped

    def _item(self, item: _Item) -> _Item:
        attributes, dropped = self._limit(item.attributes)
        if attributes is item.attributes:
            return item
        return replace(
            item,
            attributes=attributes,
            dropped_attributes_count=item.dropped_attributes_count + dropped,
        )

    def _limit(self, attributes: Attributes) -> tuple[Attributes, int]:
        """The attributes within the limits (``attributes`` itself if they are) and how
        many were dropped."""
        most, longest = self.limits.max_attributes, self.limits.max_attribute_length
        limited = attributes
        dropped = 0
        if most is not None and len(attributes) > most:
            dropped = len(attributes) - most
            limited = dict(islice(attributes.items(), most))
        if longest is not None:
            cut = {
                key: short
                for key, value in limited.items()
                if (short := _truncated(value, longest)) is not value
            }
            if cut:
                limited = {**limited, **cut, TRUNCATED_ATTRIBUTES: list(cut)}
        return limited, dropped


def _truncated(value: AttributeValue, longest: int) -> AttributeValue:
    """``value`` with strings and bytes cut to ``longest``; ``value`` itself if none is longer."""
    if isinstance(value, str | bytes):
        return value[:longest] if len(value) > longest else value
    if isinstance(value, list):
        items = [_truncated(item, longest) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, Mapping):
        entries = {key: _truncated(item, longest) for key, item in value.items()}
        return value if all(entries[key] is item for key, item in value.items()) else entries
    return value
