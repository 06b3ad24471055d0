"""Attribute entries: every value type comes back, and a tag text finds exactly its values."""

from __future__ import annotations

from typing import Any

import pytest

from traceway.model import AttributeValue
from traceway.storage.attribute_entries import decode_entries, encode_entries, needles
from traceway.storage.search_text import tag_text

VALUES: dict[str, Any] = {
    "str": "grüße",
    "empty": "",
    "digits": "42",
    "int": 42,
    "negative": -(2**63),
    "big": 2**64 - 1,
    "bool": True,
    "false": False,
    "float": 1.5,
    "integral float": 2.0,
    "nan": float("nan"),
    "inf": float("-inf"),
    "bytes": b"\x00\xff",
    "no bytes": b"",
    "none": None,
    "list": [1, "1", 1.0, True, None, b"1", [], {}],
    "dict": {"b": "x", "kv": {"y": [b"z"]}},
    "key\x1fwith\x1bcontrol": "value\x1fwith\x1econtrol",
}


def test_every_value_comes_back_with_its_type() -> None:
    entries, extra = encode_entries(VALUES)
    assert repr(decode_entries(entries, extra)) == repr(VALUES)


@pytest.mark.parametrize("key", sorted(VALUES))
def test_the_tag_text_of_a_value_finds_it(key: str) -> None:
    text = tag_text(VALUES[key])
    entries, _ = encode_entries(VALUES)
    found = [entry for entry in entries if entry in needles(key, text)] if text is not None else []
    assert len(found) == (0 if text is None else 1)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("42", "042"),
        (42, "42.0"),
        (2.0, "2"),
        (True, "True"),
        (None, ""),
        (None, "null"),
        (b"\x00", "AA"),
        ("a", "a "),
    ],
)
def test_other_texts_find_nothing(value: AttributeValue, text: str) -> None:
    entries, _ = encode_entries({"k": value})
    assert not set(entries) & set(needles("k", text))


def test_a_key_cannot_leak_into_the_value() -> None:
    # Unescaped, key "a" with value "b<US>sc" would equal key "a<US>b" with value "c".
    entries, _ = encode_entries({"a": "b\x1fsc"})
    assert not set(entries) & set(needles("a\x1fb", "c"))
    assert set(entries) & set(needles("a", "b\x1fsc"))
