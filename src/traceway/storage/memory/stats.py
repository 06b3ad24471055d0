"""Per-operation statistics and service dependencies, computed plainly from spans."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from traceway.model import Span, SpanKind
from traceway.storage.api import DependencyLink, OperationStats

__all__ = ["dependency_links", "nearest_rank", "operation_stats"]


def nearest_rank(ordered: Sequence[int], percent: int) -> int:
    """The ``percent``-th percentile of ascending ``ordered`` by nearest rank (0 if empty)."""
    if not ordered:
        return 0
    rank = -(-percent * len(ordered) // 100)  # ceil in integers: no float rounding
    return ordered[max(rank, 1) - 1]


def operation_stats(spans: Iterable[Span]) -> list[OperationStats]:
    """Statistics of every (service, span name, kind) among ``spans``, sorted by those."""
    durations: dict[tuple[str, str, SpanKind], list[int]] = defaultdict(list)
    errors: dict[tuple[str, str, SpanKind], int] = defaultdict(int)
    for span in spans:
        key = (span.service_name, span.name, span.kind)
        durations[key].append(span.duration_ns)
        errors[key] += span.is_error
    stats = []
    for key in sorted(durations):
        ordered = sorted(durations[key])
        stats.append(
            OperationStats(
                *key,
                count=len(ordered),
                error_count=errors[key],
                p50_duration_ns=nearest_rank(ordered, 50),
                p95_duration_ns=nearest_rank(ordered, 95),
                p99_duration_ns=nearest_rank(ordered, 99),
            )
        )
    return stats


def dependency_links(spans: Sequence[Span]) -> list[DependencyLink]:
    """Calls between services among ``spans``: children whose parent is in ``spans``."""
    by_id = {(span.trace_id, span.span_id): span for span in spans}
    children: dict[tuple[str, str], list[Span]] = defaultdict(list)
    for child in spans:
        parent = by_id.get((child.trace_id, child.parent_span_id))
        if parent is not None and parent.service_name != child.service_name:
            children[(parent.service_name, child.service_name)].append(child)
    return [
        DependencyLink(
            parent,
            child,
            call_count=len(calls),
            error_count=sum(span.is_error for span in calls),
            p95_duration_ns=nearest_rank(sorted(span.duration_ns for span in calls), 95),
        )
        for (parent, child), calls in sorted(children.items())
    ]
