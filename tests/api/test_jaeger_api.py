"""The Jaeger-compatible HTTP API, end to end over a MemoryStore."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from traceway.api.app import create_api_app
from traceway.model import Event, Link, Resource, Span, SpanKind, StatusCode
from traceway.query.service import QueryService
from traceway.storage.memory import MemoryStore

MS = 1_000_000
MINUTE = 60_000 * MS
NOW_NS = 1_700_000_000_000 * MS

CHECKOUT = "4bf92f3577b34da6a3ce929d0e0e4736"  # gateway → order (error)
LOGIN = "0af7651916cd43dd8448eb211c80319c"  # user, parent missing
OLD = "00000000000000000000000000000abc"  # two hours ago

GATEWAY = Resource({"service.name": "gateway", "host.name": "gw-1"})
ORDER = Resource({"service.name": "order", "host.name": "order-1"})
USER = Resource({"service.name": "user"})


def make_span(
    trace_id: str,
    span_id: str,
    name: str,
    resource: Resource,
    *,
    start: int,
    duration: int,
    **fields: Any,
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration,
        resource=resource,
        **fields,
    )


SPANS = [
    make_span(
        CHECKOUT,
        "0000000000000001",
        "GET /orders",
        GATEWAY,
        start=NOW_NS - 10 * MINUTE,
        duration=120 * MS,
        kind=SpanKind.SERVER,
        attributes={"http.status_code": 500, "http.route": "/orders"},
    ),
    make_span(
        CHECKOUT,
        "0000000000000002",
        "order.Get",
        GATEWAY,
        start=NOW_NS - 10 * MINUTE + MS,
        duration=80 * MS,
        kind=SpanKind.CLIENT,
        parent_span_id="0000000000000001",
    ),
    make_span(
        CHECKOUT,
        "0000000000000003",
        "order.Get",
        ORDER,
        start=NOW_NS - 10 * MINUTE + 2 * MS,
        duration=70 * MS,
        kind=SpanKind.SERVER,
        parent_span_id="0000000000000002",
        status_code=StatusCode.ERROR,
        status_message="out of stock",
        events=(Event(NOW_NS - 10 * MINUTE + 3 * MS, "exception", {"exception.type": "E"}),),
        links=(Link(LOGIN, "0000000000000004"),),
    ),
    make_span(
        LOGIN,
        "0000000000000004",
        "user.Login",
        USER,
        start=NOW_NS - 5 * MINUTE,
        duration=5 * MS,
        kind=SpanKind.SERVER,
        parent_span_id="00000000000000ff",
        attributes={"user.id": 42, "ratio": 0.5, "admin": True, "blob": b"\x01\x02"},
    ),
    make_span(OLD, "0000000000000005", "cleanup", USER, start=NOW_NS - 120 * MINUTE, duration=MS),
]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    store = MemoryStore()
    store.write_spans(SPANS)
    app = create_api_app(QueryService(store), clock_ns=lambda: NOW_NS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://traceway") as http:
        yield http


async def ok(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["errors"] is None
    assert (body["limit"], body["offset"]) == (0, 0)
    return body["data"]


async def trace_ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    return [trace["traceID"] for trace in await ok(client, "/api/traces", **params)]


async def bad_request(client: httpx.AsyncClient, url: str, **params: Any) -> str:
    response = await client.get(url, params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["data"] is None
    assert (body["total"], body["limit"], body["offset"]) == (0, 0, 0)
    (error,) = body["errors"]
    assert error["code"] == 400
    message: str = error["msg"]
    return message


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_services(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/services")
    assert response.json() == {
        "data": ["gateway", "order", "user"],
        "total": 3,
        "limit": 0,
        "offset": 0,
        "errors": None,
    }


async def test_operation_names_of_a_service(client: httpx.AsyncClient) -> None:
    assert await ok(client, "/api/services/gateway/operations") == ["GET /orders", "order.Get"]
    assert await ok(client, "/api/services/nobody/operations") == []


async def test_operations_with_span_kind(client: httpx.AsyncClient) -> None:
    assert await ok(client, "/api/operations", service="gateway") == [
        {"name": "GET /orders", "spanKind": "server"},
        {"name": "order.Get", "spanKind": "client"},
    ]
    assert await ok(client, "/api/operations", service="gateway", spanKind="server") == [
        {"name": "GET /orders", "spanKind": "server"}
    ]
    message = await bad_request(client, "/api/operations", service="gateway", spanKind="up")
    assert "'spanKind'" in message
    assert "'up'" in message
    assert "'service' is required" in await bad_request(client, "/api/operations")


async def test_search_defaults_to_the_last_hour_newest_first(client: httpx.AsyncClient) -> None:
    assert await trace_ids(client) == [LOGIN, CHECKOUT]
    assert await trace_ids(client, lookback="3h") == [LOGIN, CHECKOUT, OLD]
    assert await trace_ids(client, limit=1) == [LOGIN]


async def test_search_by_time_window_in_microseconds(client: httpx.AsyncClient) -> None:
    start_us = (NOW_NS - 130 * MINUTE) // 1000
    end_us = (NOW_NS - 7 * MINUTE) // 1000
    # Grafana sends lookback=custom along with explicit start and end.
    assert await trace_ids(client, start=start_us, end=end_us, lookback="custom") == [
        CHECKOUT,
        OLD,
    ]


async def test_search_conditions_hold_on_one_span(client: httpx.AsyncClient) -> None:
    assert await trace_ids(client, service="order") == [CHECKOUT]
    assert await trace_ids(client, service="gateway", operation="order.Get") == [CHECKOUT]
    assert await trace_ids(client, service="user", operation="order.Get") == []
    # The gateway span is not the order service's error span: no match.
    assert await trace_ids(client, service="gateway", error="true") == []


async def test_search_by_tags(client: httpx.AsyncClient) -> None:
    assert await trace_ids(client, tag="http.status_code:500") == [CHECKOUT]
    assert await trace_ids(client, tags='{"user.id": "42", "admin": true}') == [LOGIN]
    assert await trace_ids(client, tags='{"user.id": 42}') == [LOGIN]
    assert await trace_ids(client, tags='{"host.name": "order-1"}') == [CHECKOUT]  # resource
    assert await trace_ids(client, tag="span.kind:client") == [CHECKOUT]  # derived tag
    assert await trace_ids(client, tag=["user.id:42", "admin:false"]) == []


async def test_search_for_errors(client: httpx.AsyncClient) -> None:
    assert await trace_ids(client, error="true") == [CHECKOUT]
    assert await trace_ids(client, tag="error:true") == [CHECKOUT]
    assert await trace_ids(client, error="false") == [LOGIN, CHECKOUT]


async def test_search_by_duration(client: httpx.AsyncClient) -> None:
    assert await trace_ids(client, minDuration="100ms") == [CHECKOUT]
    assert await trace_ids(client, maxDuration="5ms") == [LOGIN]
    assert await trace_ids(client, minDuration="70ms", maxDuration="0.075s") == [CHECKOUT]


async def test_search_returns_whole_traces(client: httpx.AsyncClient) -> None:
    (trace,) = await ok(client, "/api/traces", service="order")
    assert [span["spanID"] for span in trace["spans"]] == [
        "0000000000000001",
        "0000000000000002",
        "0000000000000003",
    ]


async def test_search_by_trace_ids_reports_missing_ones(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/traces", params={"traceID": [LOGIN, "ABC", "fff"]})
    assert response.status_code == 200
    body = response.json()
    assert [trace["traceID"] for trace in body["data"]] == [LOGIN, OLD]
    assert body["errors"] == [{"msg": "trace not found", "traceID": "0" * 29 + "fff"}]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"minDuration": "1"}, "'minDuration'"),
        ({"maxDuration": "1.5"}, "missing unit in duration '1.5'"),
        ({"start": "2000", "end": "1000"}, "ends"),
        ({"minDuration": "2s", "maxDuration": "1s"}, "shorter than minimum"),
        ({"tags": "{not json"}, "'tags'"),
        ({"tags": '["a"]'}, "'tags'"),
        ({"tag": "no-colon"}, "'tag'"),
        ({"limit": "many"}, "'limit'"),
        ({"limit": "-3"}, "'-3'"),
        ({"start": "1.5"}, "'start'"),
        ({"traceID": "xyz"}, "'xyz' is not hexadecimal"),
    ],
)
async def test_bad_search_parameters_are_400s(
    client: httpx.AsyncClient, params: dict[str, str], expected: str
) -> None:
    assert expected in await bad_request(client, "/api/traces", **params)


async def test_trace_by_id(client: httpx.AsyncClient) -> None:
    (trace,) = await ok(client, f"/api/traces/{CHECKOUT}")
    assert trace["traceID"] == CHECKOUT
    assert trace["warnings"] is None
    assert trace["processes"] == {
        "p1": {
            "serviceName": "gateway",
            "tags": [{"key": "host.name", "type": "string", "value": "gw-1"}],
        },
        "p2": {
            "serviceName": "order",
            "tags": [{"key": "host.name", "type": "string", "value": "order-1"}],
        },
    }
    root, client_span, server_span = trace["spans"]
    assert [root["processID"], client_span["processID"], server_span["processID"]] == [
        "p1",
        "p1",
        "p2",
    ]
    assert root["references"] == []
    assert root["startTime"] == (NOW_NS - 10 * MINUTE) // 1000
    assert root["duration"] == 120_000
    assert {"key": "http.status_code", "type": "int64", "value": 500} in root["tags"]
    assert server_span["references"] == [
        {"refType": "CHILD_OF", "traceID": CHECKOUT, "spanID": "0000000000000002"},
        {"refType": "FOLLOWS_FROM", "traceID": LOGIN, "spanID": "0000000000000004"},
    ]
    assert {"key": "error", "type": "bool", "value": True} in server_span["tags"]
    assert {"key": "otel.status_description", "type": "string", "value": "out of stock"} in (
        server_span["tags"]
    )
    assert server_span["logs"][0]["fields"][0] == {
        "key": "event",
        "type": "string",
        "value": "exception",
    }


async def test_trace_with_a_missing_parent_and_typed_tags(client: httpx.AsyncClient) -> None:
    (trace,) = await ok(client, f"/api/traces/{LOGIN.upper()}")
    (span,) = trace["spans"]
    assert span["references"] == [
        {"refType": "CHILD_OF", "traceID": LOGIN, "spanID": "00000000000000ff"}
    ]
    assert span["tags"] == [
        {"key": "user.id", "type": "int64", "value": 42},
        {"key": "ratio", "type": "float64", "value": 0.5},
        {"key": "admin", "type": "bool", "value": True},
        {"key": "blob", "type": "binary", "value": "AQI="},
        {"key": "span.kind", "type": "string", "value": "server"},
    ]


async def test_short_trace_id_is_left_padded(client: httpx.AsyncClient) -> None:
    (trace,) = await ok(client, "/api/traces/ABC")
    assert trace["traceID"] == OLD


async def test_unknown_trace_is_a_404_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/traces/" + "f" * 32)
    assert response.status_code == 404
    assert response.json() == {
        "data": None,
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": [{"code": 404, "msg": "trace not found"}],
    }


@pytest.mark.parametrize(("trace_id", "expected"), [("xyz", "hexadecimal"), ("a" * 33, "longer")])
async def test_malformed_trace_id_is_a_400(
    client: httpx.AsyncClient, trace_id: str, expected: str
) -> None:
    assert expected in await bad_request(client, f"/api/traces/{trace_id}")


async def test_dependencies(client: httpx.AsyncClient) -> None:
    end_ms = NOW_NS // MS
    assert await ok(client, "/api/dependencies", endTs=end_ms, lookback=3_600_000) == [
        {"parent": "gateway", "child": "order", "callCount": 1}
    ]
    assert await ok(client, "/api/dependencies", endTs=end_ms, lookback=60_000) == []
    assert await ok(client, "/api/dependencies") == [
        {"parent": "gateway", "child": "order", "callCount": 1}
    ]
    assert "'endTs'" in await bad_request(client, "/api/dependencies", endTs="now")
    assert "'lookback'" in await bad_request(client, "/api/dependencies", lookback="1h")


async def test_unknown_api_path_and_method_answer_in_the_envelope(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == 404
    wrong_method = await client.post("/api/services")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["errors"][0]["code"] == 405
    assert "GET" in wrong_method.headers["allow"]


async def test_storage_failure_is_a_500_envelope() -> None:
    store = MemoryStore()
    store.close()  # every read now raises StorageError
    app = create_api_app(QueryService(store), clock_ns=lambda: NOW_NS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://traceway") as http:
        response = await http.get("/api/services")
    assert response.status_code == 500
    (error,) = response.json()["errors"]
    assert error["code"] == 500
    assert error["msg"].startswith("storage error: ")


async def test_paths_outside_the_api_keep_plain_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")


def test_public_surface() -> None:
    from traceway.api import app, errors

    assert app.__all__ == ["create_api_app"]
    assert sorted(errors.__all__) == [
        "API_PREFIX",
        "ApiError",
        "BadParameter",
        "NotFound",
        "error_response",
        "exception_handlers",
    ]
