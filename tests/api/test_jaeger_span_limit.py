"""A trace cut by the span limit says so in the Jaeger API's ``warnings``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.test_jaeger_api import CHECKOUT, LOGIN, NOW_NS, SPANS, ok
from traceway.api.app import create_api_app
from traceway.api.jaeger_json import trace_to_json
from traceway.model import Trace
from traceway.query.service import QueryService
from traceway.storage.memory import MemoryStore

# CHECKOUT has three spans, LOGIN one: a limit of two cuts only CHECKOUT.
CUT = (
    "trace has 3 spans; showing the first 2 by start time "
    "(the limit is traceway serve --max-trace-spans)"
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    store = MemoryStore()
    store.write_spans(SPANS)
    app = create_api_app(QueryService(store, max_trace_spans=2), clock_ns=lambda: NOW_NS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://traceway") as http:
        yield http


async def test_a_cut_trace_by_id_has_its_earliest_spans_and_a_warning(
    client: httpx.AsyncClient,
) -> None:
    (trace,) = await ok(client, f"/api/traces/{CHECKOUT}")
    assert [span["spanID"] for span in trace["spans"]] == ["0000000000000001", "0000000000000002"]
    assert trace["warnings"] == [CUT]
    assert [span["warnings"] for span in trace["spans"]] == [None, None]


async def test_a_trace_within_the_limit_has_no_warning(client: httpx.AsyncClient) -> None:
    (trace,) = await ok(client, f"/api/traces/{LOGIN}")
    assert len(trace["spans"]) == 1
    assert trace["warnings"] is None


async def test_search_and_multi_get_warn_on_each_cut_trace(client: httpx.AsyncClient) -> None:
    found = await ok(client, "/api/traces", lookback="1h")
    assert {t["traceID"]: t["warnings"] for t in found} == {LOGIN: None, CHECKOUT: [CUT]}
    assert [len(t["spans"]) for t in found] == [1, 2]
    asked = await ok(client, "/api/traces", traceID=[CHECKOUT, LOGIN])
    assert [(t["traceID"], t["warnings"]) for t in asked] == [(CHECKOUT, [CUT]), (LOGIN, None)]


def test_trace_json_warns_only_when_spans_were_omitted() -> None:
    spans = tuple(s for s in SPANS if s.trace_id == CHECKOUT)
    assert trace_to_json(Trace(CHECKOUT, spans))["warnings"] is None
    assert trace_to_json(Trace(CHECKOUT, spans, omitted_span_count=119_997))["warnings"] == [
        "trace has 120,000 spans; showing the first 3 by start time "
        "(the limit is traceway serve --max-trace-spans)"
    ]
