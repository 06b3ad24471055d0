"""The UI's pages and JSON, over the real app and a MemoryStore."""

from __future__ import annotations

import json
import re

import httpx

from tests.ui.conftest import CHECKOUT, CHECKOUT_START, HOURS_AGO, LOGIN, MS, SPANS, XSS
from traceway.receivers.otlp_decode import decode_json


def trace_ids(html: str) -> list[str]:
    """Trace ids of the result list, in order."""
    return re.findall(r'<li class="trace-item[^"]*" data-trace-id="([0-9a-f]{32})"', html)


async def test_home_leads_to_search(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 302
    assert response.headers["location"] == "/search"


async def test_search_lists_recent_traces_newest_first_with_their_summary(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/search")
    assert response.status_code == 200
    html = response.text
    assert trace_ids(html) == [LOGIN, CHECKOUT]  # the old trace is outside the last hour
    assert "2 traces" in html
    checkout = html[html.index(f'data-trace-id="{CHECKOUT}"') :]
    assert "POST /checkout" in checkout
    assert "120 ms" in checkout
    assert "3 spans" in checkout
    assert "1 error<" in checkout
    assert f'href="/trace/{CHECKOUT}"' in html  # list item and scatter dot


async def test_search_filters_by_service_tag_duration_and_errors(
    client: httpx.AsyncClient,
) -> None:
    async def found(**params: str) -> list[str]:
        response = await client.get("/search", params=params)
        assert response.status_code == 200, response.text
        return trace_ids(response.text)

    assert await found(service="user") == [LOGIN]
    assert await found(tags="http.status_code=500") == [CHECKOUT]
    assert await found(tags=f'note="{XSS}"') == [CHECKOUT]
    assert await found(minDuration="100ms") == [CHECKOUT]
    assert await found(errors="1") == [CHECKOUT]
    assert await found(lookback="7d") == [LOGIN, CHECKOUT, HOURS_AGO]
    assert await found(lookback="5m") == [LOGIN]
    assert await found(
        lookback="custom", **{"from": "2023-11-14T19:00", "to": "2023-11-14T21:00"}
    ) == [HOURS_AGO]


async def test_search_sorts_by_the_order_in_the_url(client: httpx.AsyncClient) -> None:
    longest = await client.get("/search", params={"sort": "longest"})
    assert trace_ids(longest.text) == [CHECKOUT, LOGIN]
    assert 'data-sort="longest" aria-current="true"' in longest.text
    spans = await client.get("/search", params={"sort": "spans", "lookback": "7d"})
    assert trace_ids(spans.text) == [CHECKOUT, LOGIN, HOURS_AGO]


async def test_the_form_keeps_its_state_and_links_keep_it(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/search", params={"service": "gateway", "tags": "a=1", "lookback": "6h", "limit": "50"}
    )
    html = response.text
    assert '<option value="gateway" selected>' in html
    assert '<option value="POST /checkout">' in html  # the service's operations
    assert 'value="a=1"' in html
    assert '<option value="6h" selected>' in html
    assert '<option value="50" selected>' in html
    assert (
        'href="/search?service=gateway&amp;tags=a%3D1&amp;lookback=6h&amp;limit=50&amp;sort=longest"'
        in html
    )


async def test_a_bad_field_is_named_and_nothing_is_searched(client: httpx.AsyncClient) -> None:
    response = await client.get("/search", params={"minDuration": "soon", "tags": "nokey"})
    assert response.status_code == 400
    assert "expected a duration like 250ms" in response.text
    assert "expected key=value, got &#39;nokey&#39;" in response.text
    assert trace_ids(response.text) == []


async def test_span_data_is_escaped_in_pages(client: httpx.AsyncClient) -> None:
    response = await client.get("/search", params={"tags": f'note="{XSS}"'})
    assert XSS not in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.text


async def test_every_response_has_a_strict_content_security_policy(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/search", f"/trace/{CHECKOUT}", "/map", "/services", "/api/services"):
        policy = (await client.get(path)).headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "default-src 'none'" in policy
        assert "unsafe-inline" not in policy


async def test_pages_have_no_inline_script_or_style(client: httpx.AsyncClient) -> None:
    for path in ("/search", f"/trace/{CHECKOUT}", "/map", "/services"):
        html = (await client.get(path)).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html and "<style" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


async def test_trace_page_shows_the_header(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/trace/{CHECKOUT}")
    assert response.status_code == 200
    html = response.text
    assert f'<code id="trace-id">{CHECKOUT}</code>' in html
    assert '<dd id="trace-span-count">3</dd>' in html
    assert '<dd id="trace-depth">3</dd>' in html
    assert '<dd id="trace-errors" class="has-errors">1</dd>' in html
    assert 'title="gateway: 2 spans"' in html
    assert 'title="order: 1 span, 1 error"' in html
    assert '<dd id="trace-duration">120 ms</dd>' in html
    assert f'data-ns="{CHECKOUT_START}"' in html
    assert f'href="/ui-api/traces/{CHECKOUT}/otlp.json"' in html


async def test_trace_ids_are_normalised_and_unknown_ones_are_404(
    client: httpx.AsyncClient,
) -> None:
    upper = await client.get(f"/trace/{HOURS_AGO.upper().lstrip('0')}")
    assert upper.status_code == 302
    assert upper.headers["location"] == f"/trace/{HOURS_AGO}"
    lookup = await client.get("/trace", params={"id": " ABC "})
    assert lookup.headers["location"] == f"/trace/{HOURS_AGO}"
    missing = await client.get(f"/trace/{'f' * 32}")
    assert missing.status_code == 404
    assert "No trace with id" in missing.text
    bad = await client.get("/trace/not-hex")
    assert bad.status_code == 400
    assert "is not hexadecimal" in bad.text


async def test_trace_data_carries_the_tree_types_and_critical_path(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"/ui-api/traces/{CHECKOUT}")
    assert response.status_code == 200
    data = response.json()
    assert data["traceId"] == CHECKOUT
    assert data["startNs"] == str(CHECKOUT_START)
    assert data["durationNs"] == 120 * MS
    spans = data["spans"]
    assert [(s["id"][-1], s["depth"], s["parent"], s["descendants"]) for s in spans] == [
        ("1", 0, -1, 2),
        ("2", 1, 0, 1),
        ("3", 2, 1, 0),
    ]
    root = spans[0]
    assert ["http.status_code", "int", 500] in root["attributes"]
    assert ["note", "string", XSS] in root["attributes"]
    assert ["big", "int", str(2**60)] in root["attributes"]  # beyond 2**53: text
    assert ["ratio", "double", 0.5] in root["attributes"]
    order = spans[2]
    assert (order["error"], order["status"], order["statusMessage"]) == (
        True,
        "ERROR",
        "out of stock",
    )
    assert order["events"][0]["time"] == 50 * MS
    assert [s["name"] for s in data["services"]] == ["gateway", "order"]
    assert data["criticalPath"] == [
        [0, 0, MS],
        [1, MS, 2 * MS],
        [2, 2 * MS, 92 * MS],
        [1, 92 * MS, 101 * MS],
        [0, 101 * MS, 120 * MS],
    ]
    login = (await client.get(f"/ui-api/traces/{LOGIN}")).json()
    assert login["spans"][0]["links"] == [
        {"traceId": CHECKOUT, "spanId": "0000000000000001", "attributes": []}
    ]


async def test_trace_downloads_as_otlp_json_that_decodes_to_the_same_spans(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"/ui-api/traces/{CHECKOUT}/otlp.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="trace-{CHECKOUT}.json"'
    )
    body = json.loads(response.content)
    assert body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] == CHECKOUT
    decoded = sorted(decode_json(response.content).spans, key=lambda s: s.span_id)
    assert decoded == [s for s in SPANS if s.trace_id == CHECKOUT]
    missing = await client.get(f"/ui-api/traces/{'f' * 32}/otlp.json")
    assert missing.status_code == 404


async def test_service_map_draws_calls_between_services(client: httpx.AsyncClient) -> None:
    response = await client.get("/map", params={"lookback": "1h"})
    assert response.status_code == 200
    html = response.text
    edges = re.findall(
        r'<g class="edge edge-(\w+)" data-parent="(\w+)" data-child="(\w+)"'
        r' data-calls="(\d+)" data-errors="(\d+)"',
        html,
    )
    assert edges == [("bad", "gateway", "order", "1", "1"), ("ok", "gateway", "user", "1", "0")]
    assert "1 call · 100% errors" in html
    assert "p95 90 ms" in html
    assert 'href="/search?lookback=1h&amp;service=order"' in html
    empty = await client.get("/map", params={"lookback": "5m"})  # only LOGIN: gateway → user
    assert 'data-child="order"' not in empty.text


async def test_services_page_shows_rates_errors_and_percentiles(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/services", params={"lookback": "1h"})
    assert response.status_code == 200
    html = response.text
    groups = re.findall(r'<tbody class="service-group" data-service="(\w+)">', html)
    assert groups == ["gateway", "order", "user"]
    order = html[html.index('data-service="order"') :]
    order = order[: order.index("</tbody>")]
    assert "100%" in order  # one request, an error
    assert "90 ms" in order
    assert 'data-operation="order.Create"' in order


async def test_bad_time_range_is_named(client: httpx.AsyncClient) -> None:
    response = await client.get("/map", params={"lookback": "forever"})
    assert response.status_code == 400
    assert "unknown time range &#39;forever&#39;" in response.text
    response = await client.get("/services", params={"lookback": "custom", "from": "yesterday"})
    assert response.status_code == 400
    assert "expected a date and time" in response.text


async def test_static_files_are_served_and_revalidated(client: httpx.AsyncClient) -> None:
    for name, kind in (("trace.js", "javascript"), ("traceway.css", "text/css")):
        response = await client.get(f"/static/{name}")
        assert response.status_code == 200
        assert kind in response.headers["content-type"]
        assert response.headers["cache-control"] == "no-cache"


async def test_scripts_never_write_markup() -> None:
    from pathlib import Path

    import traceway.ui

    static = Path(traceway.ui.__file__).parent / "static"
    for script in static.glob("*.js"):
        source = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{script.name} uses {sink}"
