"""How numbers and times read in the UI; ``static/format.js`` follows the same rules."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from datetime import UTC, datetime

__all__ = [
    "PALETTE_SIZE",
    "colour_indexes",
    "colour_of",
    "format_count",
    "format_duration",
    "format_number",
    "format_percent",
    "format_rate",
    "format_utc",
]

PALETTE_SIZE = 12
"""Service colours ``c0`` … ``c11`` in ``static/traceway.css``, one set per theme."""

_UNITS = ((60 * 10**9, "min"), (10**9, "s"), (10**6, "ms"), (10**3, "µs"))


def _three_digits(value: float) -> str:
    text = f"{value:.3g}"
    return f"{value:.0f}" if "e" in text else text


def format_duration(ns: int) -> str:
    """``850 ns``, ``1.23 µs``, ``45.6 ms``, ``2.5 s``, ``3.2 min``: three significant digits."""
    if ns < 0:
        return "-" + format_duration(-ns)
    for size, unit in _UNITS:
        if ns >= size:
            return f"{_three_digits(ns / size)} {unit}"
    return f"{ns} ns"


def format_utc(ns: int, *, with_date: bool = True) -> str:
    """``2024-05-01 12:34:56.789 UTC`` (``12:34:56.789`` without the date): the server's
    rendering, which the page's script may switch to local time."""
    moment = datetime.fromtimestamp(ns // 1_000_000 / 1000, tz=UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")
    text = f"{text}.{moment.microsecond // 1000:03d}"
    return f"{text} UTC" if with_date else text


def format_number(count: int) -> str:
    """``7``, ``60,000``."""
    return f"{count:,}"


def format_count(count: int, noun: str) -> str:
    """``1 span``, ``60,000 spans``: ``noun`` is singular, and takes an s."""
    return f"{format_number(count)} {noun}{'' if count == 1 else 's'}"


def format_percent(fraction: float) -> str:
    """``0%``, ``0.5%``, ``12%``, ``100%``."""
    percent = fraction * 100
    if percent == 0 or percent >= 10:
        return f"{percent:.0f}%"
    return f"{percent:.2g}%"


def format_rate(per_second: float) -> str:
    """Requests per second, or per minute (per hour) below one a second (a minute)."""
    if per_second >= 1:
        return f"{_three_digits(per_second)}/s"
    if per_second * 60 >= 1:
        return f"{_three_digits(per_second * 60)}/min"
    return f"{_three_digits(per_second * 3600)}/h"


def colour_indexes(services: Iterable[str]) -> dict[str, int]:
    """A palette index per service, by sorted name, so pages agree on a service's colour."""
    return {name: i % PALETTE_SIZE for i, name in enumerate(sorted(set(services)))}


def colour_of(service: str, indexes: dict[str, int]) -> int:
    """The service's palette index; one not in ``indexes`` (new since) gets a stable one."""
    index = indexes.get(service)
    return index if index is not None else zlib.crc32(service.encode()) % PALETTE_SIZE
