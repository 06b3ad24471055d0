"""Go duration strings (``1.5h``, ``300ms``, ``1m30s``), as Jaeger's API accepts them.

Jaeger parses ``minDuration``/``maxDuration`` with Go's ``time.ParseDuration``; clients
(Jaeger UI, Grafana) send exactly that syntax, so we accept the same language and
reject what Go rejects: a bare number other than ``0`` has no unit and is an error.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["parse_go_duration"]

_MAX_NS = 2**63 - 1  # Go's time.Duration is an int64 of nanoseconds

_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek small letter mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}

_NUMBER = r"(?:\d+\.?\d*|\.\d+)"
_TERM = re.compile(rf"({_NUMBER})([^\d.]*)")
_SHAPE = re.compile(rf"[-+]?(?:{_NUMBER}[^\d.]*)+")


def parse_go_duration(text: str) -> int:
    """Nanoseconds of a Go duration string; ``ValueError`` names what is wrong."""
    if not _SHAPE.fullmatch(text):
        raise ValueError(f"invalid duration {text!r}")
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body == "0":
        return 0
    total = Fraction(0)
    for number, unit in _TERM.findall(body):
        if not unit:
            raise ValueError(
                f"missing unit in duration {text!r} (units: ns, us, ms, s, m, h; e.g. 250ms)"
            )
        if unit not in _UNIT_NS:
            raise ValueError(
                f"unknown unit {unit!r} in duration {text!r} (units: ns, us, ms, s, m, h)"
            )
        total += Fraction(number) * _UNIT_NS[unit]
    nanos = int(total)  # Go truncates fractions of a nanosecond
    if nanos > _MAX_NS:
        raise ValueError(f"duration {text!r} is too large")
    return sign * nanos
