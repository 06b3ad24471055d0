"""Argument types shared by the sub-commands; each explains what it expected."""

from __future__ import annotations

import argparse

__all__ = ["port", "size"]

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
