"""What redaction looks for inside values: e-mail addresses, card numbers, custom regexes.

Each pattern is a Python regex, which decides, and an RE2 pattern that matches
wherever the Python one may (more is fine), with which a ``SpanBatch`` is screened
column by column. Only the matched part of a value is masked, so that
``user alice@example.com not found`` becomes ``user *** not found``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["CARD_NUMBER", "EMAIL", "MASK", "ValuePattern", "custom_pattern", "luhn_valid"]

MASK = "***"
"""What a masked value, or the masked part of one, becomes."""


def luhn_valid(digits: str) -> bool:
    """Whether ``digits`` pass the Luhn check that card numbers carry."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _is_card_number(text: str) -> bool:
    digits = text.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


@dataclass(frozen=True, slots=True)
class ValuePattern:
    """A regex whose matches in a value are masked, when ``check`` (if any) agrees."""

    regex: re.Pattern[str]
    screen: str | None
    """RE2, matching wherever ``regex`` may; None when there is none (screen everything)."""
    check: Callable[[str], bool] | None = None

    def mask(self, text: str) -> str:
        """``text`` with every match masked; ``text`` itself when nothing matched."""
        masked = self.regex.sub(self._replacement, text)
        return text if masked == text else masked

    def _replacement(self, match: re.Match[str]) -> str:
        found = match.group()
        if not found or (self.check is not None and not self.check(found)):
            return found
        return MASK


# Starting only where the run of address characters starts keeps the search linear.
EMAIL = ValuePattern(
    re.compile(
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}", re.ASCII
    ),
    screen=r"[A-Za-z0-9._%+-]@[A-Za-z0-9-]+\.",
)

# 13-19 digits in one run, or 16 (and 14-15, as American Express and Diners print them)
# in groups; issuers' numbers start with 2-6, which keeps out ids and nanosecond times.
# RE2 has no look-behind: its screen takes the character before the number instead.
CARD_NUMBER = ValuePattern(
    re.compile(
        r"(?<![0-9])(?:[2-6][0-9]{12,18}|[2-6][0-9]{3}(?:[ -][0-9]{4}){3}"
        r"|3[0-9]{3}[ -][0-9]{6}[ -][0-9]{4,5})(?![0-9])",
        re.ASCII,
    ),
    screen=r"(?:^|[^0-9])(?:[2-6][0-9]{12}|[2-6][0-9]{3}[ -][0-9]{4}[ -][0-9]{4}[ -][0-9]{4}"
    r"|3[0-9]{3}[ -][0-9]{6}[ -][0-9]{4})",
    check=_is_card_number,
)


def custom_pattern(text: str) -> ValuePattern:
    """A pattern from a user's regex (Python syntax; ``\\d``, ``\\w``, ``\\s`` are ASCII).

    Raises ValueError, saying why, for an invalid regex or one that matches nothing
    but the empty string would match everywhere.
    """
    try:
        regex = re.compile(text, re.ASCII)
    except re.error as exc:
        raise ValueError(
            f"redaction pattern {text!r} is not a valid regular expression: {exc}"
        ) from exc
    if regex.search("") is not None:
        raise ValueError(
            f"redaction pattern {text!r} matches the empty string, so it would match "
            "everywhere; make it match at least one character"
        )
    return ValuePattern(regex, screen=_re2_screen(text))


def _re2_screen(text: str) -> str | None:
    """An RE2 pattern matching wherever the Python one may, or None when RE2 cannot
    read it (look-arounds and back-references are Python's only)."""
    if "{," in text:
        return None  # Python's {,n} is a repetition, RE2's literal text
    # Multi-line: ^ and $ then match at least wherever they do in Python.
    screen = f"(?m)(?:{text})"
    try:
        pc.match_substring_regex(pa.array([""]), screen)
    except pa.ArrowInvalid:
        return None
    return screen
