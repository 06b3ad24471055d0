"""Small span builders for the query-layer tests (times in milliseconds from T0)."""

from __future__ import annotations

from typing import Any

from traceway.model import Resource, Span, SpanKind, StatusCode, Trace

MS = 1_000_000
T0 = 1_700_000_000_000 * MS
TRACE = "0af7651916cd43dd8448eb211c80319c"


def span(
    span_id: str,
    start_ms: float,
    end_ms: float,
    *,
    parent: str = "",
    service: str = "svc",
    name: str = "",
    error: bool = False,
    kind: SpanKind = SpanKind.INTERNAL,
    **fields: Any,
) -> Span:
    """A span whose id is ``span_id`` left-padded with zeros to 16 hex digits."""
    return Span(
        trace_id=TRACE,
        span_id=span_id.rjust(16, "0"),
        name=name or f"op-{span_id}",
        start_time_unix_nano=T0 + int(start_ms * MS),
        end_time_unix_nano=T0 + int(end_ms * MS),
        parent_span_id=parent.rjust(16, "0") if parent else "",
        kind=kind,
        status_code=StatusCode.ERROR if error else StatusCode.UNSET,
        resource=Resource({"service.name": service}),
        **fields,
    )


def trace_of(*spans: Span) -> Trace:
    return Trace(TRACE, tuple(sorted(spans, key=lambda s: (s.start_time_unix_nano, s.span_id))))
