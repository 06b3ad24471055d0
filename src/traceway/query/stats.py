"""Request rate, error rate and latency percentiles per service and per operation.

A service's requests are its entry spans: kind SERVER or CONSUMER, or every span when
the service has neither (a batch job, a traffic generator). Storage gives percentiles
per operation; a service's percentile over several entry operations lies between
the smallest and the largest of theirs (a quantile of a mixture is bounded by the
quantiles of its parts), so a service with several shows that upper bound and says
so with ``percentiles_exact = False``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from traceway.model import SpanKind
from traceway.storage.api import OperationStats

__all__ = ["ENTRY_KINDS", "OperationRates", "ServiceStats", "summarize_stats"]

ENTRY_KINDS = frozenset({SpanKind.SERVER, SpanKind.CONSUMER})

_NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class OperationRates:
    """One operation over the window: requests per second, error share, percentiles."""

    operation_name: str
    span_kind: SpanKind
    count: int
    error_count: int
    rate_per_s: float
    p50_duration_ns: int
    p95_duration_ns: int
    p99_duration_ns: int

    @property
    def error_rate(self) -> float:
        return self.error_count / self.count if self.count else 0.0


@dataclass(frozen=True, slots=True)
class ServiceStats:
    """A service's entry spans over the window, and all its operations (busiest first)."""

    service_name: str
    count: int
    error_count: int
    rate_per_s: float
    p50_duration_ns: int
    p95_duration_ns: int
    p99_duration_ns: int
    percentiles_exact: bool
    """False when the percentiles are upper bounds over several entry operations."""
    operations: tuple[OperationRates, ...]

    @property
    def error_rate(self) -> float:
        return self.error_count / self.count if self.count else 0.0


def _rates(stats: OperationStats, window_s: float) -> OperationRates:
    return OperationRates(
        operation_name=stats.operation_name,
        span_kind=stats.span_kind,
        count=stats.count,
        error_count=stats.error_count,
        rate_per_s=stats.count / window_s,
        p50_duration_ns=stats.p50_duration_ns,
        p95_duration_ns=stats.p95_duration_ns,
        p99_duration_ns=stats.p99_duration_ns,
    )


def _service(name: str, operations: list[OperationRates], window_s: float) -> ServiceStats:
    entries = [op for op in operations if op.span_kind in ENTRY_KINDS] or operations
    count = sum(op.count for op in entries)
    return ServiceStats(
        service_name=name,
        count=count,
        error_count=sum(op.error_count for op in entries),
        rate_per_s=count / window_s,
        p50_duration_ns=max(op.p50_duration_ns for op in entries),
        p95_duration_ns=max(op.p95_duration_ns for op in entries),
        p99_duration_ns=max(op.p99_duration_ns for op in entries),
        percentiles_exact=len(entries) == 1,
        operations=tuple(
            sorted(operations, key=lambda op: (-op.count, op.operation_name, op.span_kind))
        ),
    )


def summarize_stats(
    stats: Sequence[OperationStats], start_ns: int, end_ns: int
) -> list[ServiceStats]:
    """Per-service figures over [start, end], sorted by service name."""
    window_s = max(end_ns - start_ns, 1) / _NS_PER_S
    by_service: dict[str, list[OperationRates]] = {}
    for item in stats:
        if item.count > 0:
            by_service.setdefault(item.service_name, []).append(_rates(item, window_s))
    return [_service(name, ops, window_s) for name, ops in sorted(by_service.items())]
