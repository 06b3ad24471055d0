"""One ``traceway serve`` filled over OTLP and one headless Chromium for the browser tests.

Playwright's Python package drives Debian's ``chromium`` (Playwright's own browser
downloads are not used). Without either, the tests skip and say what to install.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.browser.traffic import Sent, send_traffic
from tests.e2e.serve_process import ServeProcess, start_serve

CHROMIUM = os.environ.get("TRACEWAY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


def _sync_api() -> Any:
    try:
        from playwright import sync_api
    except ImportError:
        pytest.skip("browser tests need Playwright: pip install playwright (no browser download)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}: apt-get install chromium")
    return sync_api


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, Sent]]:
    """A ``traceway serve`` (DuckDB) with the test traffic stored."""
    _sync_api()  # skip before starting anything
    tmp = tmp_path_factory.mktemp("ui-serve")
    server = start_serve(tmp, tmp / "data")
    try:
        sent = send_traffic(server)
        _wait_stored(server, sent)
        yield server, sent
    finally:
        server.stop()


def _wait_stored(server: ServeProcess, sent: Sent) -> None:
    """Until the last trace is searchable (the exporter returns once the server acked)."""
    for trace_id in (sent.checkout_trace, sent.big_trace, *sent.user_traces):
        response = httpx.get(f"{server.api}/api/traces/{trace_id}", timeout=10)
        assert response.status_code == 200, f"trace {trace_id} was not stored: {response.text}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = _sync_api()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page at 1280x800 that fails the test on any dialog or script error."""
    context = browser.new_context(viewport=VIEWPORT, timezone_id="UTC")
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss())
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.set_default_timeout(10_000)
    yield page
    context.close()
    assert not problems, problems


def screenshot(page: Any, name: str) -> None:
    """Save what the page shows now (the folder is not committed)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
