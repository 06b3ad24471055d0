"""Per-service and per-operation rates, error rates and percentiles."""

from __future__ import annotations

import pytest

from traceway.model import SpanKind
from traceway.query.stats import summarize_stats
from traceway.storage.api import OperationStats

S = 1_000_000_000


def stats(
    service: str, name: str, kind: SpanKind, count: int, errors: int, p: int
) -> OperationStats:
    return OperationStats(service, name, kind, count, errors, p, 2 * p, 3 * p)


def test_a_service_counts_its_entry_spans_and_lists_every_operation() -> None:
    [order] = summarize_stats(
        [
            stats("order", "order.Create", SpanKind.SERVER, 60, 6, 10),
            stats("order", "order.Get", SpanKind.SERVER, 30, 0, 40),
            stats("order", "payment.Charge", SpanKind.CLIENT, 60, 3, 20),
        ],
        0,
        60 * S,
    )
    assert (order.count, order.error_count) == (90, 6)
    assert order.rate_per_s == pytest.approx(1.5)
    assert order.error_rate == pytest.approx(6 / 90)
    # Two entry operations: the percentiles are the larger of theirs, an upper bound.
    assert not order.percentiles_exact
    assert (order.p50_duration_ns, order.p95_duration_ns, order.p99_duration_ns) == (40, 80, 120)
    assert [(op.operation_name, op.count) for op in order.operations] == [
        ("order.Create", 60),
        ("payment.Charge", 60),
        ("order.Get", 30),
    ]
    assert order.operations[0].rate_per_s == pytest.approx(1.0)
    assert order.operations[0].error_rate == pytest.approx(0.1)


def test_one_entry_operation_gives_exact_percentiles() -> None:
    [user] = summarize_stats(
        [
            stats("user", "user.Get", SpanKind.SERVER, 5, 0, 7),
            stats("user", "db.query", SpanKind.CLIENT, 50, 0, 1),
        ],
        0,
        10 * S,
    )
    assert user.percentiles_exact
    assert (user.count, user.p50_duration_ns) == (5, 7)


def test_a_service_without_server_spans_counts_all_of_them() -> None:
    [job] = summarize_stats([stats("job", "run", SpanKind.INTERNAL, 4, 1, 9)], 0, 10 * S)
    assert (job.count, job.error_count, job.percentiles_exact) == (4, 1, True)


def test_services_come_sorted_by_name() -> None:
    rows = summarize_stats(
        [stats("b", "x", SpanKind.SERVER, 1, 0, 1), stats("a", "x", SpanKind.SERVER, 1, 0, 1)],
        0,
        S,
    )
    assert [r.service_name for r in rows] == ["a", "b"]
