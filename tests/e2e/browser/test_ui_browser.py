"""The web UI in a real Chromium against a real ``traceway serve`` fed over OTLP.

One browser for the module and one server for the session (see conftest); each test
opens its own page, which fails the test on any dialog (an ``alert`` from injected
markup would be one), uncaught script error or console error (a CSP violation is one).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.e2e.browser.conftest import screenshot
from tests.e2e.browser.traffic import XSS, Sent
from tests.e2e.serve_process import ServeProcess

pytestmark = pytest.mark.slow

expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need Playwright: pip install playwright"
).expect

Server = tuple[ServeProcess, Sent]


def open_trace(page: Any, server: ServeProcess, trace_id: str, query: str = "") -> None:
    page.goto(f"{server.api}/trace/{trace_id}{query}")
    page.wait_for_selector("#trace-view[data-ready='true']")


def row(page: Any, operation: str, service: str) -> Any:
    return (
        page.locator(".row")
        .filter(has=page.locator(".row-service", has_text=re.compile(f"^{service}$")))
        .filter(
            has=page.locator(".row-operation", has_text=re.compile(f"^{re.escape(operation)}$"))
        )
    )


def test_search_by_service_and_by_tag_keeps_the_form_in_the_url(
    page: Any, ui_server: Server
) -> None:
    server, sent = ui_server
    page.goto(f"{server.api}/search")
    screenshot(page, "search")
    page.select_option("#f-service", "user")
    page.click("#search-form button[type=submit]")
    page.wait_for_url(re.compile(r"service=user"))
    items = page.locator(".trace-item")
    assert sorted(items.evaluate_all("els => els.map(e => e.dataset.traceId)")) == sorted(
        sent.user_traces
    )
    assert items.first.locator(".trace-operation").text_content() == "GET /user/{id}"

    page.goto(f"{server.api}/search")
    page.fill("#f-tags", "customer.tier=gold")
    page.click("#search-form button[type=submit]")
    page.wait_for_url(re.compile(r"tags=customer.tier%3Dgold"))
    assert items.evaluate_all("els => els.map(e => e.dataset.traceId)") == [sent.checkout_trace]
    checkout = items.first
    assert checkout.locator(".trace-spans").text_content() == "7 spans"
    assert checkout.locator(".trace-errors").text_content() == "2 errors"
    assert checkout.locator(".trace-services .chip-name").all_text_contents() == [
        "order",
        "gateway",
        "inventory",
        "payment",
    ]
    page.reload()  # the form's state is the URL
    assert page.input_value("#f-tags") == "customer.tier=gold"

    page.click(f".dot-link[data-trace-id='{sent.checkout_trace}']")
    page.wait_for_url(re.compile(f"/trace/{sent.checkout_trace}$"))


def test_trace_expands_collapses_and_shows_a_span(page: Any, ui_server: Server) -> None:
    server, sent = ui_server
    open_trace(page, server, sent.checkout_trace)
    assert page.text_content("#trace-span-count") == "7"
    assert page.text_content("#trace-depth") == "5"
    assert page.locator(".row").count() == 7
    assert page.locator(".row.on-critical").count() == 7 - 0  # every span is on the path here

    handler = row(page, "order.Create", "order")
    handler.locator(".twisty").click()
    assert page.locator(".row").count() == 3  # root, client, collapsed handler
    assert handler.locator(".row-children").text_content() == "+4"
    handler.locator(".twisty").click()
    assert page.locator(".row").count() == 7
    page.click("#collapse-all")
    assert page.locator(".row").count() == 2
    page.click("#expand-all")

    row(page, "payment.Charge", "payment").click()
    detail = page.locator("#detail")
    assert detail.locator("#detail-operation").text_content() == "payment.Charge"
    assert detail.locator("#detail-service").text_content() == "payment"
    assert detail.locator("#detail-kind").text_content() == "server"
    assert detail.locator("#detail-status").text_content() == "ERROR: card declined"
    amount = detail.locator(".attributes tr[data-key='payment.amount'] td")
    assert amount.all_text_contents() == ["42.5", "double"]
    assert "RuntimeError: card declined" in detail.locator(".stacktrace").text_content()
    assert detail.locator(".resource tr[data-key='service.name'] td").first.text_content() == (
        "payment"
    )
    assert page.url.endswith(f"?span={sent.payment_span}")
    screenshot(page, "trace")

    zone = page.locator(".trace-header time")
    assert zone.text_content().endswith("UTC+00:00")  # local time (the browser runs in UTC)
    page.click("#tz-toggle")
    assert zone.text_content().endswith(" UTC")
    page.click("#tz-toggle")

    with page.expect_download() as download:
        page.click("#download-otlp")
    body = json.loads(download.value.path().read_text(encoding="utf-8"))
    spans = [s for r in body["resourceSpans"] for ss in r["scopeSpans"] for s in ss["spans"]]
    assert {s["traceId"] for s in spans} == {sent.checkout_trace}
    assert len(spans) == 7


def test_a_deep_link_selects_its_span_and_find_highlights_matches(
    page: Any, ui_server: Server
) -> None:
    server, sent = ui_server
    open_trace(page, server, sent.checkout_trace, f"?span={sent.payment_span}")
    assert page.text_content("#detail-span-id") == sent.payment_span
    selected = page.locator(".row.selected")
    assert selected.get_attribute("data-span-id") == sent.payment_span
    link = page.get_attribute("#span-link", "href")
    assert link.endswith(f"/trace/{sent.checkout_trace}?span={sent.payment_span}")

    page.fill("#find-input", "inventory")
    expect(page.locator("#find-count")).to_have_text("2 found")
    assert page.locator(".row.match").count() == 2
    assert page.locator(".row.dim").count() == 5
    page.press("#find-input", "Enter")
    assert page.text_content("#find-count") == "1 of 2"
    assert page.locator(".row.current-match .row-operation").text_content() == "inventory.Reserve"
    page.fill("#find-input", "no such thing")
    expect(page.locator("#find-count")).to_have_text("No match")


def test_span_data_is_shown_as_text_and_never_runs(page: Any, ui_server: Server) -> None:
    server, sent = ui_server
    open_trace(page, server, sent.checkout_trace)
    row(page, "POST /checkout", "gateway").click()
    note = page.locator("#detail .attributes tr[data-key='note'] td").first
    assert note.text_content() == XSS
    assert page.locator("#detail img").count() == 0
    typed = page.locator("#detail .attributes tr[data-key='labels'] td").all_text_contents()
    assert typed == ['["a","b"]', "array"]

    page.goto(f"{server.api}/search?tags=note%3D%22{XSS}%22")
    assert page.locator(".trace-item").count() == 1
    assert page.input_value("#f-tags") == f'note="{XSS}"'
    assert page.locator("img").count() == 0
    # A dialog would have failed the test through the page fixture.


def test_service_map_shows_calls_and_leads_to_search(page: Any, ui_server: Server) -> None:
    server, sent = ui_server
    page.goto(f"{server.api}/map")
    edges = page.locator("g.edge").evaluate_all(
        "els => els.map(e => [e.dataset.parent, e.dataset.child,"
        " e.dataset.calls, e.dataset.errors])"
    )
    assert edges == [
        ["gateway", "order", "1", "0"],
        ["gateway", "user", "4", "0"],
        ["order", "inventory", "1", "0"],
        ["order", "payment", "1", "1"],
    ]
    label = page.locator("a.edge-label[data-child='payment']")
    assert label.locator("text").all_text_contents() == ["1 call · 100% errors", "p95 50 ms"]
    screenshot(page, "map")
    page.click("a.node[data-service='payment']")
    page.wait_for_url(re.compile(r"/search\?.*service=payment"))
    ids = page.locator(".trace-item").evaluate_all("els => els.map(e => e.dataset.traceId)")
    assert ids == [sent.checkout_trace]


def test_services_page_lists_rates_and_percentiles(page: Any, ui_server: Server) -> None:
    server, _ = ui_server
    page.goto(f"{server.api}/services")
    payment = page.locator("tbody[data-service='payment'] .service-row td")
    assert payment.all_text_contents()[:4] == ["1", "1/h", "1", "100%"]
    assert payment.all_text_contents()[4:] == ["50 ms", "50 ms", "50 ms"]
    more = page.locator("tbody[data-service='batch'] .more-row")
    assert "Show all" in more.text_content()
    screenshot(page, "services")


def test_a_10000_span_trace_renders_only_visible_rows(page: Any, ui_server: Server) -> None:
    server, sent = ui_server
    open_trace(page, server, sent.big_trace)
    assert page.text_content("#trace-span-count") == "10,000"
    assert page.locator(".row").count() < 100
    screenshot(page, "trace-10000-spans")
    viewport = page.locator("#wf-viewport")
    viewport.evaluate("v => { v.scrollTop = v.scrollHeight; }")
    last = page.locator(f".row[data-span-id='{sent.big_last_span}']")
    last.wait_for()
    assert page.locator(".row").count() < 100
    last_name = last.locator(".row-operation").text_content() or ""

    page.click("#collapse-all")
    assert page.locator(".row").count() < 100
    page.fill("#find-input", last_name)
    page.press("#find-input", "Enter")
    assert page.text_content("#find-count") == "1 of 1"
    assert page.locator(f".row.current-match[data-span-id='{sent.big_last_span}']").count() == 1


def test_the_minimap_zooms_the_timeline(page: Any, ui_server: Server) -> None:
    server, sent = ui_server
    open_trace(page, server, sent.checkout_trace)
    first_tick = page.locator(".wf-tick").first
    assert first_tick.text_content() == "0 ns"
    box = page.locator("#minimap").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.75, y, steps=4)
    page.mouse.up()
    assert first_tick.text_content() == "45 ms"
    assert page.is_enabled("#reset-zoom")
    page.click("#reset-zoom")
    assert first_tick.text_content() == "0 ns"


def test_pages_read_in_the_dark_theme_and_at_full_hd(page: Any, ui_server: Server) -> None:
    server, sent = ui_server
    page.goto(f"{server.api}/search")
    page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    screenshot(page, "search-dark")
    page.set_viewport_size({"width": 1920, "height": 1080})
    open_trace(page, server, sent.checkout_trace, f"?span={sent.payment_span}")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"  # remembered
    screenshot(page, "trace-dark-1920")
