"""Checks every backend applies: to spans before storing a batch, and to a span limit."""

from __future__ import annotations

from collections.abc import Sequence

from traceway.model import Span, is_valid_span_id, is_valid_trace_id

__all__ = ["check_span_limit", "check_spans"]

_MAX_TIME_NS = 2**63 - 1  # OTLP allows 2**64 - 1; nanoseconds reach 2**63 in the year 2262
_MAX_UINT32 = 2**32 - 1


def _problem(span: Span) -> str | None:
    if not is_valid_trace_id(span.trace_id):
        return f"invalid trace id {span.trace_id!r}"
    if not is_valid_span_id(span.span_id):
        return f"invalid span id {span.span_id!r}"
    if span.parent_span_id and not is_valid_span_id(span.parent_span_id):
        return f"invalid parent span id {span.parent_span_id!r}"
    for name in ("start_time_unix_nano", "end_time_unix_nano"):
        if not 0 <= getattr(span, name) <= _MAX_TIME_NS:
            return f"invalid {name} {getattr(span, name)}: not in 0..2**63-1"
    for name in (
        "flags",
        "dropped_attributes_count",
        "dropped_events_count",
        "dropped_links_count",
    ):
        if not 0 <= getattr(span, name) <= _MAX_UINT32:
            return f"invalid {name} {getattr(span, name)}: not a 32-bit unsigned integer"
    return None


def check_spans(spans: Sequence[Span]) -> None:
    """Raise ``ValueError`` naming the first span with a malformed id or an out-of-range number.

    Receivers validate; a bad span here is a bug upstream. Ids must be lowercase hex
    (the convention at every boundary); numbers must fit what OTLP and storage hold.
    """
    for span in spans:
        if (problem := _problem(span)) is not None:
            raise ValueError(f"span {span.span_id!r} of trace {span.trace_id!r}: {problem}")


def check_span_limit(max_spans: int | None) -> None:
    """``ValueError`` unless ``max_spans`` is None or at least 1, as readers require."""
    if max_spans is not None and max_spans < 1:
        raise ValueError(f"max_spans must be at least 1, got {max_spans}")
