"""Attribute maps as lists of text entries: compact in a column store, and searchable as is.

An entry is ``key US type text``: the key (ESC-escaped, so it holds no US), the unit
separator ``\\x1f``, one letter for the value's type, and the value's tag text (see
``search_text``): ``s`` str, ``b`` bool, ``i`` int, ``d`` float, ``x`` bytes (base64),
``n`` None (no text), ``a`` list and ``m`` dict (compact JSON). Scalars come back
from their entry exactly; lists and dicts, whose text form loses types (bytes become
base64 strings), come back from a typed JSON map kept beside the entries ("extra").

A tag search for ``key = text`` is an exact match of one whole entry: ``needles``
lists the few entries that have that text, one per type that can produce it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from traceway.model import Attributes, AttributeValue
from traceway.storage.search_text import tag_text
from traceway.storage.typed_json import dumps, from_json, to_json

__all__ = [
    "SEPARATOR",
    "Entries",
    "decode_entries",
    "encode_entries",
    "entry",
    "escape_key",
    "needles",
    "value_text",
]

Entries = tuple[list[str], str | None]
"""The entries of an attribute map and the typed JSON of its list and dict values."""

SEPARATOR = "\x1f"
_ESCAPE = "\x1b"
_CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_COMPLEX = {"a": list, "m": dict}


def escape_key(key: str) -> str:
    """The key as it is written in an entry: without a bare unit separator."""
    if _ESCAPE in key or SEPARATOR in key:
        return key.replace(_ESCAPE, _ESCAPE + _ESCAPE).replace(SEPARATOR, _ESCAPE + "_")
    return key


def _unescape_key(key: str) -> str:
    if _ESCAPE not in key:
        return key
    out: list[str] = []
    chars = iter(key)
    for char in chars:
        if char == _ESCAPE:
            char = next(chars, "")
            out.append(SEPARATOR if char == "_" else char)
        else:
            out.append(char)
    return "".join(out)


def entry(key: str, value: AttributeValue) -> str:
    """The entry of one attribute; for a list or dict, its value needs ``extra`` too."""
    return escape_key(key) + SEPARATOR + value_text(value)


def value_text(value: AttributeValue) -> str:
    """What follows the separator in an entry: the type letter, then the tag text."""
    if isinstance(value, str):
        return "s" + value
    if isinstance(value, bool):
        return "btrue" if value else "bfalse"
    if isinstance(value, int):
        return "i" + str(value)
    if isinstance(value, float):
        return "d" + repr(value)
    if isinstance(value, bytes):
        return "x" + base64.b64encode(value).decode("ascii")
    if value is None:
        return "n"
    if isinstance(value, Mapping):
        return "m" + (tag_text(value) or "")
    if isinstance(value, list | tuple):
        return "a" + (tag_text(list(value)) or "")
    raise TypeError(f"unsupported attribute value type {type(value).__name__}")


def encode_entries(attributes: Attributes) -> Entries:
    """The entries of ``attributes`` and the typed JSON of its list and dict values."""
    entries = [entry(key, value) for key, value in attributes.items()]
    complex_values = {
        key: to_json(value)
        for key, value in attributes.items()
        if isinstance(value, Mapping | list | tuple)
    }
    return entries, dumps(complex_values) if complex_values else None


def _scalar(kind: str, text: str) -> AttributeValue:
    if kind == "s":
        return text
    if kind == "i":
        return int(text)
    if kind == "b":
        return text == "true"
    if kind == "d":
        return float(text)
    if kind == "x":
        return base64.b64decode(text)
    return None


def decode_entries(entries: Sequence[str] | None, extra: str | None) -> dict[str, AttributeValue]:
    """The attribute map ``encode_entries`` was given, with every value's type."""
    if not entries:
        return {}
    complex_values: dict[str, Any] = json.loads(extra) if extra else {}
    attributes: dict[str, AttributeValue] = {}
    for item in entries:
        raw_key, _, rest = item.partition(SEPARATOR)
        key = _unescape_key(raw_key)
        kind = rest[:1]
        if kind in _COMPLEX:
            attributes[key] = from_json(complex_values[key])
        else:
            attributes[key] = _scalar(kind, rest[1:])
    return attributes


def _is_canonical_base64(text: str) -> bool:
    try:
        return base64.b64encode(base64.b64decode(text, validate=True)).decode("ascii") == text
    except (binascii.Error, ValueError):
        return False


def _is_float_text(text: str) -> bool:
    try:
        return repr(float(text)) == text
    except ValueError:
        return False


def needles(key: str, text: str) -> list[str]:
    """Every entry meaning "attribute ``key`` has the tag text ``text``"."""
    prefix = escape_key(key) + SEPARATOR
    kinds = ["s"]
    if text in ("true", "false"):
        kinds.append("b")
    if _CANONICAL_INT.fullmatch(text):
        kinds.append("i")
    if _is_float_text(text):
        kinds.append("d")
    if _is_canonical_base64(text):
        kinds.append("x")
    if text.startswith("["):
        kinds.append("a")
    if text.startswith("{"):
        kinds.append("m")
    return [prefix + kind + text for kind in kinds]
