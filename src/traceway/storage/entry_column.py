"""The attribute entries of many spans as one Arrow ``list<string>`` column.

A decoder's inner loop appends entries (``attribute_entries``) of one span after
another to one flat list, using the cached ``key US type`` prefix of the key for the
common values (strings and integers) and ``add`` for the others; ``build`` turns the
flat list and the span offsets into the column in one Arrow call. The result is
byte for byte what ``encode_entries`` gives for the same attributes.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from traceway.model import AttributeValue
from traceway.storage.attribute_entries import SEPARATOR, escape_key, value_text
from traceway.storage.typed_json import dumps, to_json

__all__ = ["EntryColumnBuilder", "int_prefix", "string_prefix"]

_MAX_PREFIXES = 4096
_STRING_PREFIXES: dict[str, str] = {}  # key -> escaped key, separator, "s"
_INT_PREFIXES: dict[str, str] = {}
_COMPLEX_LETTERS = ("a", "m")  # lists and dicts: their typed JSON goes to "extra"

string_prefix = _STRING_PREFIXES.get
"""``string_prefix(key)``: what precedes a string value in the key's entry, or None
when not known yet (then ``EntryColumnBuilder.add`` computes the entry and learns it)."""

int_prefix = _INT_PREFIXES.get
"""``int_prefix(key)``: what precedes ``str(value)`` of an integer, as ``string_prefix``."""


class EntryColumnBuilder:
    """Entries of spans one after another; ``build`` makes the ``attributes`` and
    ``attributes_extra`` columns of a ``SpanBatch``.

    Per span the loop fills a dict ``key -> entry`` (so that a repeated key keeps its
    first place and its last value, as in ``encode_entries``), then calls ``end_span``
    with it.
    """

    def __init__(self) -> None:
        self._entries: list[str] = []
        self._ends: list[int] = [0]  # span i has entries[ends[i]:ends[i + 1]]
        self._complex: dict[int, dict[str, Any]] = {}  # span number -> typed JSON by key

    def add(self, span_entries: dict[str, str], key: str, value: AttributeValue) -> None:
        """Put the entry of any attribute into ``span_entries`` of the span being built."""
        text = value_text(value)
        escaped = escape_key(key)
        span_entries[key] = escaped + SEPARATOR + text
        letter = text[0]
        if letter in _COMPLEX_LETTERS:
            span = len(self._ends) - 1
            self._complex.setdefault(span, {})[key] = to_json(value)
        elif escaped is key and (letter == "s" or letter == "i"):
            prefixes = _STRING_PREFIXES if letter == "s" else _INT_PREFIXES
            if key not in prefixes:
                if len(prefixes) >= _MAX_PREFIXES:
                    prefixes.clear()  # keys are few in practice; this bounds odd clients
                prefixes[key] = key + SEPARATOR + letter

    def end_span(self, span_entries: dict[str, str]) -> None:
        self._entries.extend(span_entries.values())
        self._ends.append(len(self._entries))

    def build(self) -> tuple[pa.Array, pa.Array]:
        """The ``attributes`` (``list<string>``) and ``attributes_extra`` columns."""
        attributes = pa.ListArray.from_arrays(
            pa.array(self._ends, pa.int32()), pa.array(self._entries, pa.string())
        )
        extra: list[str | None] = [None] * (len(self._ends) - 1)
        for span, values in self._complex.items():
            extra[span] = dumps(values)
        return attributes, pa.array(extra, pa.string())
