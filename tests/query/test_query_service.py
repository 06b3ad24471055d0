from __future__ import annotations

import pytest

from traceway.model import Resource, Span, SpanKind
from traceway.query.service import (
    MAX_SEARCH_LIMIT,
    InvalidQueryError,
    QueryService,
    normalize_trace_id,
)
from traceway.storage.api import OperationQuery, TraceQuery
from traceway.storage.memory import MemoryStore

MS = 1_000_000
T0 = 1_700_000_000_000 * MS


def make_span(
    trace_id: str,
    span_id: str,
    service: str,
    *,
    parent: str = "",
    start: int = T0,
    duration: int = 10 * MS,
    name: str = "op",
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration,
        parent_span_id=parent,
        kind=SpanKind.SERVER,
        resource=Resource({"service.name": service}),
    )


def tid(n: int) -> str:
    return f"{n:032x}"


def sid(n: int) -> str:
    return f"{n:016x}"


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def service(store: MemoryStore) -> QueryService:
    return QueryService(store)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("abc", "0" * 29 + "abc"),
        ("ABCDEF0123456789", "0" * 16 + "abcdef0123456789"),
        ("4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f3577b34da6a3ce929d0e0e4736"),
    ],
)
def test_normalize_trace_id_pads_and_lowercases(raw: str, canonical: str) -> None:
    assert normalize_trace_id(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("xyz", "not hexadecimal"),
        ("0x1f", "not hexadecimal"),
        ("a" * 33, "longer than 32"),
    ],
)
def test_normalize_trace_id_rejects_malformed_ids(raw: str, message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message):
        normalize_trace_id(raw)


def test_get_trace_finds_a_trace_by_a_short_upper_case_id(
    store: MemoryStore, service: QueryService
) -> None:
    store.write_spans([make_span(tid(0xABC), sid(1), "gateway")])
    trace = service.get_trace("ABC")
    assert trace is not None
    assert trace.trace_id == tid(0xABC)
    assert service.get_trace("abd") is None


def test_get_traces_reports_the_ids_it_did_not_find(
    store: MemoryStore, service: QueryService
) -> None:
    store.write_spans([make_span(tid(1), sid(1), "gateway")])
    found, missing = service.get_traces(["1", tid(1), "2"])
    assert [trace.trace_id for trace in found] == [tid(1)]
    assert missing == [tid(2)]


def test_find_traces_rejects_a_window_ending_before_it_starts(service: QueryService) -> None:
    query = TraceQuery(start_time_min_ns=T0, start_time_max_ns=T0 - 1)
    with pytest.raises(InvalidQueryError, match=r"ends .* before it starts"):
        service.find_traces(query)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (TraceQuery(duration_min_ns=2 * MS, duration_max_ns=MS), "shorter than minimum"),
        (TraceQuery(duration_min_ns=-1), "must not be negative"),
        (TraceQuery(limit=0), "at least 1"),
    ],
)
def test_find_traces_rejects_impossible_queries(
    service: QueryService, query: TraceQuery, message: str
) -> None:
    with pytest.raises(InvalidQueryError, match=message):
        service.find_traces(query)


def test_find_traces_caps_the_limit(store: MemoryStore, service: QueryService) -> None:
    store.write_spans(
        [make_span(tid(n), sid(1), "gateway", start=T0 + n) for n in range(1, MAX_SEARCH_LIMIT + 2)]
    )
    traces = service.find_traces(TraceQuery(limit=MAX_SEARCH_LIMIT * 10))
    assert len(traces) == MAX_SEARCH_LIMIT
    assert traces[0].trace_id == tid(MAX_SEARCH_LIMIT + 1)  # newest first


def test_get_operations_requires_a_service(service: QueryService) -> None:
    with pytest.raises(InvalidQueryError, match="service name is required"):
        service.get_operations(OperationQuery(service_name=""))


def test_get_dependencies_looks_back_from_the_end(
    store: MemoryStore, service: QueryService
) -> None:
    store.write_spans(
        [
            make_span(tid(1), sid(1), "gateway", start=T0),
            make_span(tid(1), sid(2), "order", parent=sid(1), start=T0 + MS),
            make_span(tid(1), sid(3), "user", parent=sid(1), start=T0 + 2 * MS),
        ]
    )
    links = service.get_dependencies(end_ns=T0 + 10 * MS, lookback_ns=20 * MS)
    assert [(link.parent, link.child, link.call_count) for link in links] == [
        ("gateway", "order", 1),
        ("gateway", "user", 1),
    ]
    assert service.get_dependencies(end_ns=T0 - 1, lookback_ns=20 * MS) == []
    only_user = service.get_dependencies(T0 + 10 * MS, 20 * MS, service_name="user")
    assert [(link.parent, link.child) for link in only_user] == [("gateway", "user")]


def test_get_dependencies_rejects_a_negative_lookback(service: QueryService) -> None:
    with pytest.raises(InvalidQueryError, match="lookback must not be negative"):
        service.get_dependencies(end_ns=T0, lookback_ns=-1)


def test_public_surface() -> None:
    from traceway.query import service as module

    assert sorted(module.__all__) == [
        "InvalidQueryError",
        "MAX_SEARCH_LIMIT",
        "QueryService",
        "normalize_trace_id",
    ]
