"""The whole HTTP app (API and UI) over a MemoryStore with a few known traces, clock fixed."""

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
XSS = "<img src=x onerror=alert(1)>"

CHECKOUT = "4bf92f3577b34da6a3ce929d0e0e4736"
LOGIN = "0af7651916cd43dd8448eb211c80319c"
HOURS_AGO = "00000000000000000000000000000abc"

GATEWAY = Resource({"service.name": "gateway", "host.name": "gw-1"})
ORDER = Resource({"service.name": "order"})
USER = Resource({"service.name": "user"})


def make_span(
    trace_id: str, span_id: str, name: str, resource: Resource, start: int, ms: int, **fields: Any
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=start + ms * MS,
        resource=resource,
        **fields,
    )


CHECKOUT_START = NOW_NS - 10 * MINUTE
LOGIN_START = NOW_NS - 2 * MINUTE

SPANS = [
    make_span(
        CHECKOUT,
        "0000000000000001",
        "POST /checkout",
        GATEWAY,
        CHECKOUT_START,
        120,
        kind=SpanKind.SERVER,
        attributes={"http.status_code": 500, "note": XSS, "big": 2**60, "ratio": 0.5},
    ),
    make_span(
        CHECKOUT,
        "0000000000000002",
        "order.Create",
        GATEWAY,
        CHECKOUT_START + MS,
        100,
        kind=SpanKind.CLIENT,
        parent_span_id="0000000000000001",
    ),
    make_span(
        CHECKOUT,
        "0000000000000003",
        "order.Create",
        ORDER,
        CHECKOUT_START + 2 * MS,
        90,
        kind=SpanKind.SERVER,
        parent_span_id="0000000000000002",
        status_code=StatusCode.ERROR,
        status_message="out of stock",
        events=(
            Event(
                CHECKOUT_START + 50 * MS,
                "exception",
                {"exception.type": "ValueError", "exception.stacktrace": "Traceback\n  line 1"},
            ),
        ),
    ),
    make_span(
        LOGIN,
        "00000000000000a1",
        "GET /login",
        GATEWAY,
        LOGIN_START,
        20,
        kind=SpanKind.SERVER,
        attributes={"http.status_code": 200},
        links=(Link(CHECKOUT, "0000000000000001"),),
    ),
    make_span(
        LOGIN,
        "00000000000000a2",
        "user.Login",
        USER,
        LOGIN_START + MS,
        15,
        kind=SpanKind.SERVER,
        parent_span_id="00000000000000a1",
    ),
    make_span(HOURS_AGO, "00000000000000b1", "old", USER, NOW_NS - 3 * 60 * MINUTE, 5),
]


@pytest.fixture
def store() -> MemoryStore:
    memory = MemoryStore()
    memory.write_spans(SPANS)
    return memory


@pytest.fixture
async def client(store: MemoryStore) -> AsyncIterator[httpx.AsyncClient]:
    app = create_api_app(QueryService(store), clock_ns=lambda: NOW_NS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://traceway.test") as http:
        yield http
