"""Deleting old traces (retention), checked on every backend: whole traces, nothing newer."""

from __future__ import annotations

from pathlib import Path

from tests.storage.fixture_data import at_ms
from traceway.model import InstrumentationScope, Resource, Span, StatusCode, Trace
from traceway.storage.api import (
    DependencyLink,
    Operation,
    OperationQuery,
    StatsQuery,
    TraceQuery,
    TraceStore,
)
from traceway.storage.duckdb import DuckDBStore

OLD, STRADDLING, NEW = (f"{n:032x}" for n in (0xA, 0xB, 0xC))
FRONTEND = Resource({"service.name": "frontend"})
LEGACY = Resource({"service.name": "legacy", "host.name": "old-box"})
LEGACY_SCOPE = InstrumentationScope("legacy-instrumentation", "0.1")
CUTOFF = at_ms(50)
EVERYTHING = (at_ms(-1000), at_ms(1000))


def _span(trace_id: str, span_id: int, start_ms: int, **fields: object) -> Span:
    return Span(
        trace_id,
        f"{span_id:016x}",
        str(fields.pop("name", "GET /")),
        at_ms(start_ms),
        at_ms(start_ms + 5),
        **fields,  # type: ignore[arg-type]
    )


def _fill(store: TraceStore) -> None:
    """An old trace (frontend calls legacy), one that straddles the cutoff, a new one."""
    store.write_spans(
        [
            _span(OLD, 1, 0, resource=FRONTEND),
            _span(
                OLD,
                2,
                10,
                name="legacy call",
                parent_span_id=f"{1:016x}",
                resource=LEGACY,
                scope=LEGACY_SCOPE,
                status_code=StatusCode.ERROR,
            ),
            _span(STRADDLING, 3, 0, resource=FRONTEND),
        ]
    )
    store.write_spans([_span(STRADDLING, 4, 100, resource=FRONTEND), _span(NEW, 5, 200)])


def test_only_traces_whose_last_span_is_older_go_whole(store: TraceStore) -> None:
    _fill(store)
    kept = {trace_id: store.get_trace(trace_id) for trace_id in (STRADDLING, NEW)}

    assert store.delete_traces_before(CUTOFF) == 2

    assert store.get_trace(OLD) is None
    assert {trace_id: store.get_trace(trace_id) for trace_id in (STRADDLING, NEW)} == kept
    straddling = kept[STRADDLING]
    assert straddling is not None and len(straddling.spans) == 2
    assert store.find_trace_ids(TraceQuery(start_time_max_ns=CUTOFF)) == [STRADDLING]


def test_services_operations_dependencies_and_stats_forget_deleted_spans(
    store: TraceStore,
) -> None:
    _fill(store)
    assert store.get_services() == ["frontend", "legacy", "unknown_service"]
    assert store.get_dependencies(*EVERYTHING) == [
        DependencyLink("frontend", "legacy", call_count=1, error_count=1, p95_duration_ns=5_000_000)
    ]

    store.delete_traces_before(CUTOFF)

    assert store.get_services() == ["frontend", "unknown_service"]
    assert store.get_operations(OperationQuery("legacy")) == []
    assert [op.name for op in store.get_operations(OperationQuery("frontend"))] == ["GET /"]
    assert store.get_dependencies(*EVERYTHING) == []
    stats = store.get_operation_stats(StatsQuery(*EVERYTHING))
    assert [(s.service_name, s.count, s.error_count) for s in stats] == [
        ("frontend", 2, 0),
        ("unknown_service", 1, 0),
    ]
    assert store.find_trace_ids(TraceQuery(service_name="legacy")) == []


def test_deleting_again_deletes_nothing_more(store: TraceStore) -> None:
    _fill(store)
    assert store.delete_traces_before(CUTOFF) == 2
    assert store.delete_traces_before(CUTOFF) == 0
    assert store.find_trace_ids(TraceQuery()) == [NEW, STRADDLING]


def test_a_cutoff_before_everything_deletes_nothing(store: TraceStore) -> None:
    _fill(store)
    assert store.delete_traces_before(at_ms(0)) == 0
    assert store.find_trace_ids(TraceQuery()) == [NEW, STRADDLING, OLD]
    assert store.delete_traces_before(at_ms(0)) == 0


def test_an_empty_store_deletes_nothing(store: TraceStore) -> None:
    assert store.delete_traces_before(at_ms(1000)) == 0
    assert store.oldest_trace_start_ns() is None


def test_spans_written_after_a_deletion_keep_their_own_resource_and_scope(
    store: TraceStore,
) -> None:
    """A deleted resource or scope must not hand its id, or its attributes, to a new one."""
    _fill(store)
    new_trace = store.get_trace(NEW)
    store.delete_traces_before(CUTOFF)
    fresh = Resource({"service.name": "fresh"})
    again = _span(OLD, 2, 300, name="legacy call", resource=LEGACY, scope=LEGACY_SCOPE)
    newcomer = _span(f"{0xD:032x}", 6, 300, resource=fresh, scope=InstrumentationScope("new"))
    store.write_spans([again, newcomer])

    assert store.get_trace(OLD) == Trace(OLD, (again,))
    assert store.get_trace(newcomer.trace_id) == Trace(newcomer.trace_id, (newcomer,))
    assert store.get_trace(NEW) == new_trace
    straddling = store.get_trace(STRADDLING)
    assert straddling is not None
    assert [span.resource for span in straddling.spans] == [FRONTEND, FRONTEND]
    assert store.get_operations(OperationQuery("legacy")) == [Operation("legacy call", again.kind)]


def test_oldest_start_and_size_follow_deletions(store: TraceStore) -> None:
    _fill(store)
    assert store.oldest_trace_start_ns() == at_ms(0)
    store.delete_traces_before(at_ms(150))
    assert store.oldest_trace_start_ns() == at_ms(200)
    assert store.storage_bytes() >= 0


def test_a_deletion_survives_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "traces.duckdb"
    with DuckDBStore(path) as store:
        _fill(store)
        store.delete_traces_before(CUTOFF)
    with DuckDBStore(path) as store:
        assert store.get_trace(OLD) is None
        assert store.get_services() == ["frontend", "unknown_service"]
        assert store.find_trace_ids(TraceQuery()) == [NEW, STRADDLING]


def test_duckdb_size_falls_when_most_traces_are_deleted(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "traces.duckdb") as store:
        for batch in range(20):
            store.write_spans(
                [
                    _span(
                        f"{batch * 1000 + n + 1:032x}",
                        n + 1,
                        batch,
                        attributes={"n": f"{batch * 1000 + n:06}" + "x" * 200},  # each its own
                    )
                    for n in range(1000)
                ]
            )
        full = store.storage_bytes()
        assert store.delete_traces_before(at_ms(19)) == 19_000
        assert store.storage_bytes() < full / 2
