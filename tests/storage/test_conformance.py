"""The storage contract of ``storage/api.py``, checked on every backend with fixture data."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any, cast

import pytest

from tests.storage.fixture_data import (
    at_ms,
    dependency_link,
    load_spans,
    operation_query,
    operation_stats,
    queries,
    stats_query,
    trace_query,
)
from traceway.model import (
    Event,
    InstrumentationScope,
    Link,
    Resource,
    Span,
    SpanKind,
    StatusCode,
    Trace,
)
from traceway.storage.api import (
    DependencyLink,
    Operation,
    OperationQuery,
    OperationStats,
    StatsQuery,
    StorageError,
    TraceQuery,
    TraceStore,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def _expected_traces() -> dict[str, Trace]:
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for span in load_spans():
        by_trace[span.trace_id].append(span)
    return {
        trace_id: Trace(
            trace_id, tuple(sorted(spans, key=lambda s: (s.start_time_unix_nano, s.span_id)))
        )
        for trace_id, spans in by_trace.items()
    }


def _span(span_id: str = "00f067aa0ba902b7", **changes: Any) -> Span:
    return dataclasses.replace(
        Span(TRACE_ID, span_id, "op", at_ms(0), at_ms(5), resource=Resource({"service.name": "a"})),
        **changes,
    )


def _by_name(kind: str) -> list[Any]:
    return [pytest.param(case, id=case["name"]) for case in queries()[kind]]


def test_is_a_trace_store(store: TraceStore) -> None:
    assert isinstance(store, TraceStore)


def test_every_fixture_trace_reads_back_equal(loaded_store: TraceStore) -> None:
    for trace_id, expected in _expected_traces().items():
        assert loaded_store.get_trace(trace_id) == expected


def test_a_span_with_every_field_set_reads_back_equal(store: TraceStore) -> None:
    odd_values: dict[str, Any] = {
        "str": "grüße\x00\x1b\x1e\x1f\n'\"",
        "int": -(2**63),
        "uint64": 2**64 - 1,
        "float": 1e-300,
        "inf": float("-inf"),
        "bool": False,
        "bytes": b"\x00\xff",
        "empty bytes": b"",
        "none": None,
        "list": [1, 1.0, True, "1", None, b"1", [], {}],
        "dict": {"b": "not bytes", "kv": {"$bytes": "not a tag"}, "nested": {"x": [b"y"]}},
        "": "empty key",
        "key\x1fwith\x1econtrol": "value\x1fwith\x1econtrol",
    }
    span = Span(
        trace_id=TRACE_ID,
        span_id="00f067aa0ba902b7",
        parent_span_id="53995c3f42cd8ad8",
        name="ünïcode operation",
        kind=SpanKind.CONSUMER,
        start_time_unix_nano=1_700_000_000_123_456_789,
        end_time_unix_nano=1_700_000_000_123_456_790,
        attributes=odd_values,
        status_code=StatusCode.OK,
        status_message="fine",
        resource=Resource({"service.name": "svc", **odd_values}, 4, "https://schema/r"),
        scope=InstrumentationScope("lib", "1.2.3", {"x": [1, 2]}, 5, "https://schema/s"),
        events=(
            Event(1, "first", odd_values, 6),
            Event(1, "same time", {}),
        ),
        links=(
            Link("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "k=v", odd_values, 7, 1),
            Link(TRACE_ID, "b7ad6b7169203331"),
        ),
        trace_state="rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        flags=0x301,
        dropped_attributes_count=1,
        dropped_events_count=2,
        dropped_links_count=2**32 - 1,
    )
    store.write_spans([span])
    assert store.get_trace(TRACE_ID) == Trace(TRACE_ID, (span,))


def test_end_before_start_reads_back_and_counts_as_zero_duration(store: TraceStore) -> None:
    backwards = _span(end_time_unix_nano=at_ms(-3))
    store.write_spans([backwards])
    assert store.get_trace(TRACE_ID) == Trace(TRACE_ID, (backwards,))
    assert store.find_trace_ids(TraceQuery(duration_max_ns=0)) == [TRACE_ID]
    assert store.find_trace_ids(TraceQuery(duration_min_ns=0)) == [TRACE_ID]
    assert store.find_trace_ids(TraceQuery(duration_min_ns=1)) == []
    stats = store.get_operation_stats(StatsQuery(at_ms(0), at_ms(0)))
    assert [(s.count, s.p50_duration_ns, s.p99_duration_ns) for s in stats] == [(1, 0, 0)]


@pytest.mark.parametrize("case", _by_name("find_traces"))
def test_find_trace_ids(loaded_store: TraceStore, case: dict[str, Any]) -> None:
    assert loaded_store.find_trace_ids(trace_query(case["query"])) == case["expected"]


@pytest.mark.parametrize("case", _by_name("find_traces"))
def test_find_traces_returns_whole_traces_in_order(
    loaded_store: TraceStore, case: dict[str, Any]
) -> None:
    expected = _expected_traces()
    found = loaded_store.find_traces(trace_query(case["query"]))
    assert found == [expected[trace_id] for trace_id in case["expected"]]


def test_get_services(loaded_store: TraceStore) -> None:
    assert loaded_store.get_services() == queries()["services"]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, id=f"{case['service_name']}-{case.get('span_kind', 'any')}")
        for case in queries()["operations"]
    ],
)
def test_get_operations(loaded_store: TraceStore, case: dict[str, Any]) -> None:
    expected = [Operation(name, SpanKind[kind.upper()]) for name, kind in case["expected"]]
    assert loaded_store.get_operations(operation_query(case)) == expected


@pytest.mark.parametrize("case", _by_name("dependencies"))
def test_get_dependencies(loaded_store: TraceStore, case: dict[str, Any]) -> None:
    found = loaded_store.get_dependencies(at_ms(case["start_ms"]), at_ms(case["end_ms"]))
    assert found == [dependency_link(link) for link in case["expected"]]


@pytest.mark.parametrize("case", _by_name("operation_stats"))
def test_get_operation_stats(loaded_store: TraceStore, case: dict[str, Any]) -> None:
    found = loaded_store.get_operation_stats(stats_query(case))
    assert found == [operation_stats(row) for row in case["expected"]]


def test_percentiles_are_nearest_rank_durations_that_occurred(store: TraceStore) -> None:
    # 20 calls of 1..20 ms from service a to b, stored in no particular order.
    caller = _span("1000000000000001", start_time_unix_nano=at_ms(0), end_time_unix_nano=at_ms(50))
    callee = Resource({"service.name": "b"})
    calls = [
        _span(
            f"{number:016x}",
            parent_span_id=caller.span_id,
            resource=callee,
            start_time_unix_nano=at_ms(number % 7),
            end_time_unix_nano=at_ms(number % 7 + number),
            status_code=StatusCode.ERROR if number % 5 == 0 else StatusCode.UNSET,
        )
        for number in (7, 13, 1, 20, 4, 16, 9, 2, 18, 11, 5, 14, 3, 19, 8, 12, 6, 17, 10, 15)
    ]
    store.write_spans([caller, *calls])
    ms = at_ms(1) - at_ms(0)
    window = StatsQuery(at_ms(0), at_ms(10), service_name="b")
    assert store.get_operation_stats(window) == [
        OperationStats("b", "op", SpanKind.UNSPECIFIED, 20, 4, 10 * ms, 19 * ms, 20 * ms)
    ]
    assert store.get_dependencies(at_ms(0), at_ms(10)) == [DependencyLink("a", "b", 20, 4, 19 * ms)]


def test_unknown_and_malformed_trace_ids_find_nothing(loaded_store: TraceStore) -> None:
    assert loaded_store.get_trace("ffffffffffffffffffffffffffffffff") is None
    assert loaded_store.get_trace("0000000000000000000000000000A001") is None
    assert loaded_store.get_trace("not hex") is None


def test_an_empty_store_answers_empty(store: TraceStore) -> None:
    assert store.get_services() == []
    assert store.get_operations(OperationQuery("gateway")) == []
    assert store.get_trace(TRACE_ID) is None
    assert store.find_trace_ids(TraceQuery()) == []
    assert store.find_traces(TraceQuery()) == []
    assert store.get_dependencies(0, 2**63 - 1) == []
    assert store.get_operation_stats(StatsQuery(0, 2**63 - 1)) == []


def test_writing_a_span_again_stores_it_once(store: TraceStore) -> None:
    spans = load_spans()
    store.write_spans(spans)
    store.write_spans(spans)
    store.write_spans(load_spans()[:3])
    assert {trace_id: store.get_trace(trace_id) for trace_id in _expected_traces()} == (
        _expected_traces()
    )


def test_a_repeated_span_within_one_batch_is_stored_once(store: TraceStore) -> None:
    span = _span()
    store.write_spans([span, span, dataclasses.replace(span)])
    assert store.get_trace(TRACE_ID) == Trace(TRACE_ID, (span,))


def test_the_first_span_stored_under_an_id_stays(store: TraceStore) -> None:
    first, second = _span(name="first"), _span(name="second")
    store.write_spans([first, second])
    store.write_spans([_span(name="third")])
    assert store.get_trace(TRACE_ID) == Trace(TRACE_ID, (first,))


def test_an_empty_batch_is_accepted(store: TraceStore) -> None:
    store.write_spans([])
    assert store.get_services() == []


@pytest.mark.parametrize(
    "bad",
    [
        {"trace_id": TRACE_ID.upper()},
        {"trace_id": "0" * 32},
        {"span_id": "abc"},
        {"parent_span_id": "xyz"},
        {"start_time_unix_nano": -1},
        {"end_time_unix_nano": 2**63},
        {"flags": 2**32},
        {"dropped_events_count": -1},
    ],
)
def test_spans_with_malformed_ids_or_numbers_are_refused(
    store: TraceStore, bad: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="invalid"):
        store.write_spans([_span(), _span(**{"span_id": "1111111111111111", **bad})])
    assert store.get_trace(TRACE_ID) is None  # nothing of the batch was stored


def test_attribute_values_of_other_types_are_refused(store: TraceStore) -> None:
    with pytest.raises(TypeError, match="set"):
        store.write_spans([_span(attributes={"tags": {"a", "b"}})])
    assert store.get_trace(TRACE_ID) is None


def test_returned_spans_are_the_callers_to_change(store: TraceStore) -> None:
    store.write_spans([_span(attributes={"list": [1]})])
    first = store.get_trace(TRACE_ID)
    assert first is not None
    cast(list[int], first.spans[0].attributes["list"]).append(2)
    cast(dict[str, str], first.spans[0].resource.attributes)["service.name"] = "changed"
    again = store.get_trace(TRACE_ID)
    assert again is not None
    assert again.spans[0].attributes == {"list": [1]}
    assert again.spans[0].service_name == "a"


def test_written_spans_are_not_changed_through_the_callers_objects(store: TraceStore) -> None:
    attributes: dict[str, Any] = {"list": [1]}
    store.write_spans([_span(attributes=attributes)])
    attributes["list"].append(2)
    attributes["new"] = True
    trace = store.get_trace(TRACE_ID)
    assert trace is not None
    assert trace.spans[0].attributes == {"list": [1]}


def test_close_is_idempotent_and_ends_use(store: TraceStore) -> None:
    store.close()
    store.close()
    with pytest.raises(StorageError):
        store.write_spans([_span()])
    with pytest.raises(StorageError):
        store.get_services()
    with pytest.raises(StorageError):
        store.find_traces(TraceQuery())
