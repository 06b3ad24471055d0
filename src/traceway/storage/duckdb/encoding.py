"""Typed JSON for attribute values, events and links, and the text column tags are found in.

Typed JSON keeps every ``AttributeValue`` type: str, int, float, bool and None are
JSON's own (``1`` and ``1.0`` stay apart, NaN and infinities use Python's JSON
extensions), lists are arrays, and the two types JSON lacks are one-key objects:
``{"b": "<base64>"}`` for bytes and ``{"kv": {...}}`` for a nested dict. A JSON
object therefore always means one of those two, never a plain map.

Tag text holds one entry per attribute with a text form (see ``search_text``):
``\\x1e key \\x1f value`` ... ``\\x1e``, with ESC (``\\x1b``) escaping the three
control characters inside keys and values. ``tag_needle(key, value)`` occurs in a
tag text exactly when that attribute has that text, so a plain substring search is
an exact tag match.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

from traceway.model import Attributes, AttributeValue, Event, Link
from traceway.storage.search_text import tag_text

__all__ = [
    "decode_attributes",
    "decode_events",
    "decode_links",
    "encode_attributes",
    "encode_events",
    "encode_links",
    "tag_needle",
    "tag_text_of",
]

_ENTRY_END = "\x1e"
_KEY_END = "\x1f"
_ESCAPE = "\x1b"
_PLAIN = (str, int, float, type(None))  # bool is an int


def _to_json(value: AttributeValue) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, bytes):
        return {"b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        return {"kv": _map_to_json(value)}
    if isinstance(value, list | tuple):
        return [_to_json(item) for item in value]
    raise TypeError(f"unsupported attribute value type {type(value).__name__}")


def _map_to_json(attributes: Attributes) -> dict[str, Any]:
    return {key: _to_json(value) for key, value in attributes.items()}


def _from_json(value: Any) -> AttributeValue:
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    if isinstance(value, dict):
        if "b" in value:
            return base64.b64decode(value["b"])
        return _map_from_json(value["kv"])
    return cast(AttributeValue, value)


def _map_from_json(attributes: dict[str, Any]) -> dict[str, AttributeValue]:
    return {key: _from_json(value) for key, value in attributes.items()}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode_attributes(attributes: Attributes) -> str | None:
    """Typed JSON of an attribute map, None when empty."""
    return _dumps(_map_to_json(attributes)) if attributes else None


def decode_attributes(text: str | None) -> dict[str, AttributeValue]:
    return _map_from_json(json.loads(text)) if text else {}


def encode_events(events: Iterable[Event]) -> str | None:
    """Events as ``[[time, name, attributes, dropped], ...]``, None when there are none."""
    rows = [
        [e.time_unix_nano, e.name, _map_to_json(e.attributes), e.dropped_attributes_count]
        for e in events
    ]
    return _dumps(rows) if rows else None


def decode_events(text: str | None) -> tuple[Event, ...]:
    if not text:
        return ()
    return tuple(
        Event(time, name, _map_from_json(attributes), dropped)
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
    return _dumps(rows) if rows else None


def decode_links(text: str | None) -> tuple[Link, ...]:
    if not text:
        return ()
    return tuple(
        Link(trace_id, span_id, trace_state, _map_from_json(attributes), dropped, flags)
        for trace_id, span_id, trace_state, attributes, dropped, flags in json.loads(text)
    )


def _escape(text: str) -> str:
    if _ESCAPE in text or _ENTRY_END in text or _KEY_END in text:
        return (
            text.replace(_ESCAPE, _ESCAPE + _ESCAPE)
            .replace(_ENTRY_END, _ESCAPE + "^")
            .replace(_KEY_END, _ESCAPE + "_")
        )
    return text


def tag_text_of(attributes: Attributes) -> str | None:
    """The searchable text of an attribute map, None when nothing in it is searchable."""
    entries = [
        f"{_escape(key)}{_KEY_END}{_escape(text)}{_ENTRY_END}"
        for key, value in attributes.items()
        if (text := tag_text(value)) is not None
    ]
    return _ENTRY_END + "".join(entries) if entries else None


def tag_needle(key: str, value: str) -> str:
    """The substring of a tag text that means "attribute ``key`` has text ``value``"."""
    return f"{_ENTRY_END}{_escape(key)}{_KEY_END}{_escape(value)}{_ENTRY_END}"
