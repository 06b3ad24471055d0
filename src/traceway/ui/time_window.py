"""The time window a page looks at: "last 5 minutes" … "last 7 days", or a custom range.

In a URL: ``lookback=1h`` (a choice of ``LOOKBACKS``), or ``lookback=custom`` with
``from``/``to`` as ISO 8601 date-times (``2024-05-01T12:00``, ``…+02:00``, ``…Z``);
a date-time without an offset is UTC. The page's script adds the browser's offset
when the UI shows local time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.datastructures import QueryParams

__all__ = [
    "CUSTOM",
    "DEFAULT_LOOKBACK",
    "LOOKBACKS",
    "FormErrors",
    "TimeWindow",
    "datetime_input",
    "parse_window",
]

_MINUTE = 60 * 10**9
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR

LOOKBACKS: dict[str, tuple[str, int]] = {
    "5m": ("Last 5 minutes", 5 * _MINUTE),
    "15m": ("Last 15 minutes", 15 * _MINUTE),
    "1h": ("Last hour", _HOUR),
    "6h": ("Last 6 hours", 6 * _HOUR),
    "12h": ("Last 12 hours", 12 * _HOUR),
    "1d": ("Last 24 hours", _DAY),
    "2d": ("Last 2 days", 2 * _DAY),
    "7d": ("Last 7 days", 7 * _DAY),
}
"""URL value → (label, length in ns), in the order the menus list them."""

DEFAULT_LOOKBACK = "1h"
CUSTOM = "custom"


class FormErrors(ValueError):
    """Fields of a form that cannot be used, each with what is wrong (field → message)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A window as asked (for re-rendering the form) and as nanoseconds."""

    lookback: str
    start_text: str
    end_text: str
    start_ns: int
    end_ns: int

    @property
    def length_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def label(self) -> str:
        return LOOKBACKS[self.lookback][0] if self.lookback in LOOKBACKS else "Custom range"

    def params(self) -> dict[str, str]:
        """The URL parameters that give this window again."""
        if self.lookback == CUSTOM:
            return {"lookback": CUSTOM, "from": self.start_text, "to": self.end_text}
        return {"lookback": self.lookback}


def datetime_input(text: str) -> str:
    """An ISO date-time as a ``datetime-local`` input takes it: its offset dropped."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return ""
    return moment.replace(tzinfo=None).isoformat(timespec="seconds")


def _instant_ns(text: str, field: str, errors: dict[str, str]) -> int | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        errors[field] = f"expected a date and time like 2024-05-01T12:00, got {text!r}"
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = int(moment.timestamp())
    return seconds * 10**9 + moment.microsecond * 1000


def parse_window(params: QueryParams, now_ns: int) -> TimeWindow:
    """The window of ``lookback``/``from``/``to``; ``FormErrors`` if it cannot be used."""
    lookback = params.get("lookback") or DEFAULT_LOOKBACK
    if lookback in LOOKBACKS:
        return TimeWindow(lookback, "", "", max(0, now_ns - LOOKBACKS[lookback][1]), now_ns)
    if lookback != CUSTOM:
        choices = ", ".join([*LOOKBACKS, CUSTOM])
        raise FormErrors({"lookback": f"unknown time range {lookback!r} (one of: {choices})"})
    errors: dict[str, str] = {}
    start_text, end_text = params.get("from", ""), params.get("to", "")
    start_ns = _instant_ns(start_text, "from", errors) if start_text else 0
    end_ns = _instant_ns(end_text, "to", errors) if end_text else now_ns
    if start_ns is not None and end_ns is not None and end_ns < start_ns:
        errors["to"] = "the range ends before it starts"
    if errors or start_ns is None or end_ns is None:
        raise FormErrors(errors)
    return TimeWindow(CUSTOM, start_text, end_text, max(0, start_ns), end_ns)
