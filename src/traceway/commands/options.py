"""Argument types shared by the sub-commands; each explains what it expected."""

from __future__ import annotations

import argparse

__all__ = ["count", "port", "size"]

_SIZE_UNITS = {"": 1, "b": 1, "kib": 1 << 10, "kb": 1000, "mib": 1 << 20, "mb": 1000**2}


def size(text: str) -> int:
    """A byte count such as ``64MiB``, ``512KiB`` or ``1000``."""
    number = text.rstrip("kKmMiIbB")
    unit = text[len(number) :].lower()
    if not number.isdigit() or unit not in _SIZE_UNITS or int(number) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 64MiB, 512KiB or 1000")
    return int(number) * _SIZE_UNITS[unit]


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
