"""Names with quotes and SQL fragments are found literally, in every backend."""

from __future__ import annotations

import time

from traceway.model import Resource, Span, SpanKind
from traceway.storage.api import OperationQuery, TraceQuery, TraceStore

NAMES = ["it's", "' OR 1=1 --", '"quoted"', "100%_done", "a\\b", "x'); DROP TABLE spans; --"]


def test_operation_and_service_names_match_only_themselves(store: TraceStore) -> None:
    now = time.time_ns()
    spans = [
        Span(
            trace_id=f"{i + 1:032x}",
            span_id=f"{i + 1:016x}",
            name=name,
            kind=SpanKind.SERVER,
            start_time_unix_nano=now - 10**9 + i,
            end_time_unix_nano=now - 10**9 + i + 1000,
            resource=Resource({"service.name": f"svc {name}"}),
        )
        for i, name in enumerate(NAMES)
    ]
    store.write_spans(spans)
    window = {"start_time_min_ns": now - 10 * 10**9, "start_time_max_ns": now}

    for i, name in enumerate(NAMES):
        by_operation = store.find_trace_ids(TraceQuery(operation_name=name, **window))
        assert by_operation == [f"{i + 1:032x}"], name
        by_service = store.find_trace_ids(TraceQuery(service_name=f"svc {name}", **window))
        assert by_service == [f"{i + 1:032x}"], name
        operations = store.get_operations(OperationQuery(service_name=f"svc {name}"))
        assert [o.name for o in operations] == [name]
    assert store.find_trace_ids(TraceQuery(operation_name="' OR '1'='1", **window)) == []
    assert sorted(store.get_services()) == sorted(f"svc {name}" for name in NAMES)
