"""The UI over a span limit: the trace page and the results say a trace was cut."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.ui.conftest import CHECKOUT, LOGIN, NOW_NS
from traceway.api.app import create_api_app
from traceway.query.service import QueryService
from traceway.storage.memory import MemoryStore

# CHECKOUT has three spans, LOGIN two: a limit of two cuts only CHECKOUT.
NOTICE = (
    "trace has 3 spans; showing the first 2 by start time "
    "(the limit is traceway serve --max-trace-spans)"
)


@pytest.fixture
async def client(store: MemoryStore) -> AsyncIterator[httpx.AsyncClient]:
    app = create_api_app(QueryService(store, max_trace_spans=2), clock_ns=lambda: NOW_NS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://traceway.test") as http:
        yield http


def notice_of(page: str) -> str | None:
    found = re.search(
        r'<p class="trace-notice" id="trace-cut-notice" role="status">([^<]*)</p>', page
    )
    return html.unescape(found.group(1)) if found else None


async def test_the_trace_page_of_a_cut_trace_shows_a_notice(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/trace/{CHECKOUT}")
    assert response.status_code == 200
    notice = notice_of(response.text)
    assert notice is not None
    assert notice.startswith(NOTICE)
    assert '<dd id="trace-span-count">3</dd>' in response.text  # every stored span


async def test_the_trace_page_of_a_whole_trace_has_no_notice(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/trace/{LOGIN}")
    assert response.status_code == 200
    assert notice_of(response.text) is None
    assert "trace-cut-notice" not in response.text


async def test_the_trace_data_holds_the_first_spans_and_counts_the_rest(
    client: httpx.AsyncClient,
) -> None:
    data = (await client.get(f"/ui-api/traces/{CHECKOUT}")).json()
    assert [span["id"] for span in data["spans"]] == ["0000000000000001", "0000000000000002"]
    assert data["omittedSpans"] == 1
    whole = (await client.get(f"/ui-api/traces/{LOGIN}")).json()
    assert (len(whole["spans"]), whole["omittedSpans"]) == (2, 0)


async def test_search_results_count_every_span_and_mark_cut_traces(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/search")).text
    items = {
        item[item.index('data-trace-id="') + 15 :][:32]: item[: item.index("</li>")]
        for item in page.split('<li class="trace-item')[1:]
    }
    assert "3 spans" in items[CHECKOUT]
    assert f'<span class="badge trace-cut" title="{NOTICE}">first 2 read</span>' in items[CHECKOUT]
    assert "2 spans" in items[LOGIN]
    assert "trace-cut" not in items[LOGIN]
