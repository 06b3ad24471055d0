"""The span limit of trace reads: how many spans of one trace a page or an API answer
holds, and what its reader is told when a trace has more."""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_TRACE_SPANS", "cut_notice"]

DEFAULT_MAX_TRACE_SPANS = 50_000
"""Spans read of one trace unless ``traceway serve --max-trace-spans`` says otherwise:
enough for any trace a person reads, and a bound on the memory one request takes."""


def cut_notice(shown: int, total: int) -> str | None:
    """The warning for a trace of which ``shown`` of its ``total`` spans were read (the
    earliest by start time); None when it was read whole."""
    if shown >= total:
        return None
    return (
        f"trace has {total:,} spans; showing the first {shown:,} by start time "
        "(the limit is traceway serve --max-trace-spans)"
    )
