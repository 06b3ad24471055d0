"""Redaction: secrets and personal data masked before anything is stored.

Two kinds of rules, in the spirit of the OpenTelemetry Collector's redaction processor:

* by KEY (case-insensitive): the whole value of a listed key, or of a key containing
  one of the listed parts, becomes ``***``; the key stays, so a reader sees that
  something was there. Numbers and booleans under a key that only *contains* a part
  are kept (``gen_ai.usage.input_tokens`` is a count, not a token);
* by VALUE: the parts of strings (and of integers, read as decimal text) that match a
  pattern become ``***``: e-mail addresses, card numbers that pass the Luhn check,
  custom regexes.

Rules apply to the attributes of spans, events, links, resources and scopes, to keys
and values nested in lists and maps, and value patterns to the status message too.
Span and event names are left alone. A changed span, resource or scope gets
``traceway.redacted_count``, first among its attributes: how many attributes (and
status message) were masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
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
from traceway.pipeline.value_patterns import (
    CARD_NUMBER,
    EMAIL,
    MASK,
    ValuePattern,
    custom_pattern,
)
from traceway.storage.attribute_entries import SEPARATOR, escape_key
from traceway.storage.span_batch import SpanBatch

__all__ = [
    "DEFAULT_REDACTED_KEYS",
    "DEFAULT_REDACTED_KEY_PARTS",
    "MASK",
    "REDACTED_COUNT",
    "RedactionRules",
    "Redactor",
]

DEFAULT_REDACTED_KEYS = (
    "authorization",
    "proxy-authorization",
    "http.request.header.authorization",
    "http.request.header.proxy-authorization",
    "http.request.header.cookie",
    "http.response.header.set-cookie",
)
DEFAULT_REDACTED_KEY_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "api-key",
    "apikey",
)

REDACTED_COUNT = "traceway.redacted_count"
"""Added first to the attributes of a span, resource or scope that had values masked."""

_MAX_REMEMBERED_KEYS = 4096
_ANY_VALUE, _TEXT_VALUE = 1, 2  # what a key rule masks
_Item = TypeVar("_Item", Event, Link)
_Owner = TypeVar("_Owner", Resource, InstrumentationScope)


@dataclass(frozen=True, slots=True)
class RedactionRules:
    """What to mask: keys (exact), key parts (contained), and value patterns."""

    keys: tuple[str, ...] = DEFAULT_REDACTED_KEYS
    key_parts: tuple[str, ...] = DEFAULT_REDACTED_KEY_PARTS
    emails: bool = False
    card_numbers: bool = False
    patterns: tuple[str, ...] = ()
    """Python regexes; matched parts of values are masked."""

    def __post_init__(self) -> None:
        for pattern in self.patterns:
            custom_pattern(pattern)  # raises ValueError saying what is wrong
        if any(not part for part in (*self.keys, *self.key_parts)):
            raise ValueError("a redacted key or key part cannot be empty")

    @property
    def enabled(self) -> bool:
        return bool(
            self.keys or self.key_parts or self.emails or self.card_numbers or self.patterns
        )


def _alternatives(words: Iterable[str]) -> str:
    return "|".join(re.escape(word) for word in sorted(set(words)))


def _shortest(words: set[str]) -> set[str]:
    """The words that contain no other word: text with none of them has none of all."""
    return {word for word in words if not any(other in word for other in words - {word})}


class Redactor(SpanRewriter):
    """The processor that applies ``RedactionRules``."""

    def __init__(self, rules: RedactionRules) -> None:
        super().__init__(rules)
        self._keys = frozenset(key.lower() for key in rules.keys)
        self._key_parts = tuple(sorted({part.lower() for part in rules.key_parts}))
        self._key_rules: dict[str, int] = {}  # key -> _ANY_VALUE, _TEXT_VALUE or 0
        builtin = [
            pattern
            for pattern, on in ((EMAIL, rules.emails), (CARD_NUMBER, rules.card_numbers))
            if on
        ]
        custom = [custom_pattern(text) for text in rules.patterns]
        self._patterns: tuple[ValuePattern, ...] = (*builtin, *custom)
        self._custom = tuple(custom)
        self._screens(builtin)

    def _screens(self, builtin: list[ValuePattern]) -> None:
        """The RE2 patterns ``screen`` uses; see there."""
        # A key a rule matches contains one of these words, and so does any text
        # holding it (an attribute entry, typed JSON of events, links and maps).
        words = {*self._keys, *self._key_parts}
        words = _shortest(
            words | {json.dumps(word)[1:-1] for word in words} | {escape_key(w) for w in words}
        )
        value_screens = [f"(?:{p.screen})" for p in builtin if p.screen is not None]
        word_screen = f"(?i:{_alternatives(words)})" if words else None
        self._text_screen = "|".join(s for s in (word_screen, *value_screens) if s) or None
        # Per attribute entry (key US type text): a listed key, a key with a listed
        # part and a value that is not a number, a nested map or list with a word.
        entry_screens = list(value_screens)
        if self._keys:
            escaped = _alternatives(escape_key(key) for key in self._keys)
            entry_screens.append(f"(?i:^(?:{escaped}){SEPARATOR})")
        if self._key_parts:
            parts = _alternatives(self._key_parts)
            entry_screens.append(
                f"(?i:^[^{SEPARATOR}]*(?:{parts})[^{SEPARATOR}]*{SEPARATOR}[sxam])"
            )
        if words:
            entry_screens.append(
                f"(?is:^[^{SEPARATOR}]*{SEPARATOR}[am].*(?:{_alternatives(words)}))"
            )
        self._entry_screen = "|".join(entry_screens)
        self._custom_screen = _joined_screen([p.screen for p in self._custom])
        self._status_screen = _joined_screen([p.screen for p in self._patterns])

    def screen(self, batch: SpanBatch) -> Iterable[int]:
        table = batch.table
        rows: list[int] = []
        attributes = table.column("attributes")
        json_columns = [table.column("events"), table.column("links")]
        # One pass over all the text first: in most batches no rule can apply.
        if self._text_screen is not None and batch_screen.any_text_matches(
            [attributes, *json_columns], self._text_screen
        ):
            rows += batch_screen.entry_rows(attributes, self._entry_screen)
            for column in json_columns:
                if column.null_count < len(column):
                    rows += batch_screen.matching_rows(column, self._text_screen)
        if self._custom:
            # A user's regex may be anchored, so it is tried on each value on its own;
            # values inside typed JSON (lists, maps, events, links) are checked in Python.
            if self._custom_screen is None:
                rows += batch_screen.list_length_above_rows(attributes, 0)
            else:
                rows += batch_screen.entry_rows(
                    attributes, self._custom_screen, strip=f"^[^{SEPARATOR}]*{SEPARATOR}."
                )
                rows += batch_screen.entry_rows(attributes, f"^[^{SEPARATOR}]*{SEPARATOR}[am]")
            for column in json_columns:
                rows += batch_screen.non_null_rows(column)
        if self._patterns:
            status = table.column("status_message")
            if self._status_screen is None:
                rows += batch_screen.length_above_rows(status, 0)
            else:
                rows += batch_screen.matching_rows(status, self._status_screen)
        return rows

    def rewrite_span(self, span: Span) -> Span:
        attributes, count = self._redact_map(span.attributes)
        events, event_count = self._items(span.events)
        links, link_count = self._items(span.links)
        status_message = span.status_message
        if self._patterns and status_message:
            status_message = self._mask_text(status_message)
        count += event_count + link_count + int(status_message is not span.status_message)
        if not count:
            return span
        return replace(
            span,
            attributes=_counted(attributes, count),
            events=events,
            links=links,
            status_message=status_message,
        )

    def rewrite_resource_or_scope(self, owner: _Owner) -> _Owner:
        attributes, count = self._redact_map(owner.attributes)
        return replace(owner, attributes=_counted(attributes, count)) if count else owner

    def _items(self, items: tuple[_Item, ...]) -> tuple[tuple[_Item, ...], int]:
        total = 0
        redacted: list[_Item] = []
        for item in items:
            attributes, count = self._redact_map(item.attributes)
            total += count
            redacted.append(replace(item, attributes=attributes) if count else item)
        return (tuple(redacted), total) if total else (items, 0)

    def _redact_map(self, attributes: Attributes) -> tuple[Attributes, int]:
        """The attributes with their values masked, and how many were."""
        changed = {
            key: new
            for key, value in attributes.items()
            if (new := self._redact(key, value)) is not value
        }
        return ({**attributes, **changed}, len(changed)) if changed else (attributes, 0)

    def _redact(self, key: str, value: AttributeValue) -> AttributeValue:
        """The value of ``key`` masked as the rules say; ``value`` itself if unchanged."""
        if value is None or (isinstance(value, str | bytes | list | Mapping) and not value):
            return value
        rule = self._key_rule(key)
        if rule == _ANY_VALUE or (rule == _TEXT_VALUE and not isinstance(value, int | float)):
            return MASK
        return self._mask_values(value)

    def _mask_values(self, value: AttributeValue) -> AttributeValue:
        """``value`` with the value patterns' matches masked, also inside lists and maps."""
        if isinstance(value, str):
            return self._mask_text(value) if self._patterns else value
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            text = str(value)
            return MASK if self._patterns and self._mask_text(text) is not text else value
        if isinstance(value, list):
            items = [self._mask_values(item) for item in value]
            return value if all(a is b for a, b in zip(items, value, strict=True)) else items
        if isinstance(value, Mapping):
            entries = {key: self._redact(key, item) for key, item in value.items()}
            return value if all(entries[key] is item for key, item in value.items()) else entries
        return value

    def _mask_text(self, text: str) -> str:
        """``text`` with every pattern's matches masked; ``text`` itself if none matched."""
        masked = text
        for pattern in self._patterns:
            masked = pattern.mask(masked)
        return text if masked == text else masked

    def _key_rule(self, key: str) -> int:
        rule = self._key_rules.get(key)
        if rule is None:
            lowered = key.lower()
            if lowered in self._keys:
                rule = _ANY_VALUE
            elif any(part in lowered for part in self._key_parts):
                rule = _TEXT_VALUE
            else:
                rule = 0
            if len(self._key_rules) >= _MAX_REMEMBERED_KEYS:
                self._key_rules.clear()  # keys are few in practice; this bounds odd clients
            self._key_rules[key] = rule
        return rule


def _counted(attributes: Attributes, count: int) -> dict[str, AttributeValue]:
    """``attributes`` with ``traceway.redacted_count`` first, adding to one already there."""
    previous = attributes.get(REDACTED_COUNT)
    if isinstance(previous, int) and not isinstance(previous, bool):
        count += previous
    rest = {key: value for key, value in attributes.items() if key != REDACTED_COUNT}
    return {REDACTED_COUNT: count, **rest}


def _joined_screen(screens: list[str | None]) -> str | None:
    """One RE2 alternation of ``screens``; None (no screen) if any pattern has none."""
    if not screens or any(screen is None for screen in screens):
        return None
    return "|".join(f"(?:{screen})" for screen in screens if screen is not None)
