"""Argument types shared by the sub-commands; each explains what it expected."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

from traceway.api.go_duration import parse_go_duration

__all__ = ["count", "count_or_zero", "duration", "port", "rate", "size"]

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kib": 1 << 10,
    "kb": 1000,
    "mib": 1 << 20,
    "mb": 1000**2,
    "gib": 1 << 30,
    "gb": 1000**3,
    "tib": 1 << 40,
    "tb": 1000**4,
}
_DAY_TERMS = re.compile(r"(\d+)([dw])")
_DAY_NS = 24 * 3600 * 10**9


def size(text: str) -> int:
    """A byte count such as ``64MiB``, ``512KiB``, ``10GB`` or ``1000``."""
    number = text.rstrip("kKmMgGtTiIbB")
    unit = text[len(number) :].lower()
    if not number.isdigit() or unit not in _SIZE_UNITS or int(number) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size such as 10GiB, 64MiB, 512KiB or 1000"
        )
    return int(number) * _SIZE_UNITS[unit]


def duration(text: str) -> int:
    """A positive duration in nanoseconds: Go's syntax (``12h``, ``30m``, ``1h30m``) plus
    whole days and weeks (``7d``, ``2w``, ``1d12h``)."""
    days = sum(int(n) * (7 if unit == "w" else 1) for n, unit in _DAY_TERMS.findall(text))
    rest = _DAY_TERMS.sub("", text)
    try:
        nanos = days * _DAY_NS + (parse_go_duration(rest) if rest else 0)
    except ValueError:
        nanos = 0
    if nanos < 1 or text.startswith(("-", "+")):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration such as 7d, 2w, 12h, 30m or 1d12h"
        )
    return nanos


def port(text: str) -> int:
    """A TCP/UDP port; 0 asks for any free one."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535; 0 = any free)")
    return int(text)


def count(text: str) -> int:
    """A positive whole number; ``_`` and ``,`` may group digits (``200_000``)."""
    digits = text.replace("_", "").replace(",", "")
    if not digits.isdigit() or int(digits) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(digits)


def count_or_zero(text: str) -> int:
    """A whole number, 0 or more, digits grouped as for ``count``."""
    if text.strip() == "0":
        return 0
    try:
        return count(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (0 or more)") from None


def rate(maximum: float) -> Callable[[str], float]:
    """A parser of requests per second, above 0 and at most ``maximum``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = 0.0
        if not 0 < value <= maximum:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a rate above 0 and at most {maximum:g} per second"
            )
        return value

    return parse
