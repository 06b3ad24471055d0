"""CLIENT spans and traceparent on outgoing httpx calls, to real servers on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.instrument.http_servers import closed_port, echo_server, serving
from traceway.instrument import AsyncTracingTransport, instrument_asgi, instrument_httpx, traced
from traceway.model import SpanKind, StatusCode
from traceway.testing import CapturedSpans


def test_outgoing_request_carries_the_client_spans_context(spans: CapturedSpans) -> None:
    with (
        echo_server() as (url, received),
        instrument_httpx(httpx.Client()) as client,
        traced("checkout"),
    ):
        response = client.get(f"{url}/stock?item=3")

    assert response.status_code == 200
    call = spans.one("GET")
    outer = spans.one("checkout")
    assert call.kind is SpanKind.CLIENT
    assert call.parent_span_id == outer.span_id
    version, trace_id, parent_id, flags = received[0]["traceparent"].split("-")
    assert (version, trace_id, parent_id) == ("00", call.trace_id, call.span_id)
    assert int(flags, 16) & 0x01  # sampled
    port = int(url.rsplit(":", 1)[1])
    assert call.attributes == {
        "http.request.method": "GET",
        "url.full": f"{url}/stock?item=3",
        "server.address": "127.0.0.1",
        "server.port": port,
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }
    assert call.status_code is StatusCode.UNSET


def test_4xx_answer_is_an_error_of_the_call(spans: CapturedSpans) -> None:
    with echo_server() as (url, _), instrument_httpx(httpx.Client()) as client:
        client.get(f"{url}/missing")

    call = spans.one("GET")
    assert call.status_code is StatusCode.ERROR
    assert call.attributes["error.type"] == "404"


def test_connection_failure_is_recorded_and_reraised(spans: CapturedSpans) -> None:
    client = instrument_httpx(httpx.Client())
    with pytest.raises(httpx.ConnectError):
        client.get(f"http://127.0.0.1:{closed_port()}/")

    call = spans.one("GET")
    assert call.status_code is StatusCode.ERROR
    assert call.attributes["error.type"] == "httpx.ConnectError"
    assert "http.response.status_code" not in call.attributes
    assert [e.name for e in call.events] == ["exception"]


def test_credentials_and_signatures_are_redacted_from_url_full(spans: CapturedSpans) -> None:
    with echo_server() as (url, received), instrument_httpx(httpx.Client()) as client:
        authority = url.removeprefix("http://")
        client.get(f"http://alice:secret@{authority}/file?sig=abc&name=x")

    assert received[0]["authorization"].startswith("Basic ")
    full = spans.one("GET").attributes["url.full"]
    assert full == f"http://REDACTED:REDACTED@{authority}/file?sig=REDACTED&name=x"


def test_instrumenting_twice_makes_one_span_per_request(spans: CapturedSpans) -> None:
    with echo_server() as (url, _), httpx.Client() as client:
        instrument_httpx(instrument_httpx(client))
        client.get(url)

    assert spans.names() == ["GET"]


async def test_trace_continues_through_a_downstream_service(spans: CapturedSpans) -> None:
    async def get_profile(request: Request) -> Response:
        return PlainTextResponse("profile")

    backend = instrument_asgi(Starlette(routes=[Route("/profile/{id}", get_profile)]))
    async with serving(backend) as backend_url:
        downstream = httpx.AsyncClient(transport=AsyncTracingTransport())

        async def get_user(request: Request) -> Response:
            with traced("cache lookup"):
                pass
            answer = await downstream.get(f"{backend_url}/profile/{request.path_params['id']}")
            return PlainTextResponse(answer.text)

        gateway = instrument_asgi(Starlette(routes=[Route("/user/{id}", get_user)]))
        async with serving(gateway) as gateway_url, httpx.AsyncClient() as client:
            response = await client.get(f"{gateway_url}/user/5")
        await downstream.aclose()

    assert response.text == "profile"
    spans.assert_tree({"GET /user/{id}": {"cache lookup": {}, "GET": {"GET /profile/{id}": {}}}})
    assert len(spans.trace_ids()) == 1
