"""Typed JSON for attribute values, events and links: JSON that keeps every value's type.

str, int, float, bool and None are JSON's own (``1`` and ``1.0`` stay apart, NaN and
infinities use Python's JSON extensions), lists are arrays, and the two types JSON
lacks are one-key objects: ``{"b": "<base64>"}`` for bytes and ``{"kv": {...}}`` for a
nested dict. A JSON object therefore always means one of those two, never a plain map.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

from traceway.model import Attributes, AttributeValue, Event, Link

__all__ = [
    "attributes_from_json",
    "decode_events",
    "decode_links",
    "dumps",
    "encode_events",
    "encode_links",
    "from_json",
    "to_json",
]

_PLAIN = (str, int, float, type(None))  # bool is an int


def to_json(value: AttributeValue) -> Any:
    """The typed JSON form of a value, ready for ``json.dumps``."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, bytes):
        return {"b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        return {"kv": _map_to_json(value)}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    raise TypeError(f"unsupported attribute value type {type(value).__name__}")


def _map_to_json(attributes: Attributes) -> dict[str, Any]:
    return {key: to_json(value) for key, value in attributes.items()}


def from_json(value: Any) -> AttributeValue:
    """The value of a typed JSON form parsed by ``json.loads``."""
    if isinstance(value, list):
        return [from_json(item) for item in value]
    if isinstance(value, dict):
        if "b" in value:
            return base64.b64decode(value["b"])
        return attributes_from_json(value["kv"])
    return cast(AttributeValue, value)


def attributes_from_json(attributes: dict[str, Any]) -> dict[str, AttributeValue]:
    """An attribute map from its typed JSON object."""
    return {key: from_json(value) for key, value in attributes.items()}


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode_events(events: Iterable[Event]) -> str | None:
    """Events as ``[[time, name, attributes, dropped], ...]``, None when there are none."""
    rows = [
        [e.time_unix_nano, e.name, _map_to_json(e.attributes), e.dropped_attributes_count]
        for e in events
    ]
    return dumps(rows) if rows else None


def decode_events(text: str | None) -> tuple[Event, ...]:
    if not text:
        return ()
    return tuple(
        Event(time, name, attributes_from_json(attributes), dropped)
        for time, name, attributes, dropped in json.loads(text)
    )


def encode_links(links: Iterable[Link]) -> str | None:
    """Links as ``[[trace id, span id, trace state, attributes, dropped, flags], ...]``."""
    rows = [
        [
            link.trace_id,
            link.span_id,
            link.trace_state,
            _map_to_json(link.attributes),
            link.dropped_attributes_count,
            link.flags,
        ]
        for link in links
    ]
    return dumps(rows) if rows else None


def decode_links(text: str | None) -> tuple[Link, ...]:
    if not text:
        return ()
    return tuple(
        Link(trace_id, span_id, trace_state, attributes_from_json(attributes), dropped, flags)
        for trace_id, span_id, trace_state, attributes, dropped, flags in json.loads(text)
    )
