"""The root SERVER span of an ASGI app, served by a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from tests.instrument.http_servers import serving
from traceway.instrument import TracingMiddleware, instrument_asgi, traced
from traceway.model import SpanKind, StatusCode
from traceway.testing import CapturedSpans

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


async def get_user(request: Request) -> Response:
    with traced("cache lookup", hit=False):
        pass
    return JSONResponse({"id": request.path_params["id"]})


async def fail(request: Request) -> Response:
    raise RuntimeError("database is down")


async def unavailable(request: Request) -> Response:
    return PlainTextResponse("try later", status_code=503)


async def get_order(request: Request) -> Response:
    return PlainTextResponse("order")


def make_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/user/{id:int}", get_user),
            Route("/fail", fail),
            Route("/unavailable", unavailable),
            Mount("/api", routes=[Mount("/v1", routes=[Route("/orders/{order_id}", get_order)])]),
        ]
    )


async def test_request_gets_a_server_span_named_after_its_route(spans: CapturedSpans) -> None:
    async with serving(instrument_asgi(make_app())) as url, httpx.AsyncClient() as client:
        response = await client.get(f"{url}/user/42?verbose=1", headers={"user-agent": "t/1"})

    assert response.status_code == 200
    root = spans.one("GET /user/{id}")
    port = int(url.rsplit(":", 1)[1])
    assert root.kind is SpanKind.SERVER
    assert root.status_code is StatusCode.UNSET
    assert root.attributes == {
        "http.request.method": "GET",
        "http.route": "/user/{id}",
        "url.path": "/user/42",
        "url.query": "verbose=1",
        "url.scheme": "http",
        "http.response.status_code": 200,
        "server.address": "127.0.0.1",
        "server.port": port,
        "client.address": "127.0.0.1",
        "network.peer.address": "127.0.0.1",
        "network.peer.port": root.attributes["network.peer.port"],
        "network.protocol.version": "1.1",
        "user_agent.original": "t/1",
    }
    spans.assert_tree({"GET /user/{id}": {"cache lookup": {}}})


async def test_incoming_traceparent_is_the_parent(spans: CapturedSpans) -> None:
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
    async with serving(instrument_asgi(make_app())) as url, httpx.AsyncClient() as client:
        await client.get(f"{url}/user/7", headers={"traceparent": traceparent})

    root = spans.one("GET /user/{id}")
    assert root.trace_id == TRACE_ID
    assert root.parent_span_id == PARENT_ID
    assert spans.one("cache lookup").trace_id == TRACE_ID


async def test_unhandled_exception_is_an_error_with_the_500_sent(spans: CapturedSpans) -> None:
    async with serving(instrument_asgi(make_app())) as url, httpx.AsyncClient() as client:
        response = await client.get(f"{url}/fail")

    assert response.status_code == 500
    root = spans.one("GET /fail")
    assert root.status_code is StatusCode.ERROR
    assert root.attributes["error.type"] == "RuntimeError"
    assert root.attributes["http.response.status_code"] == 500
    assert [e.name for e in root.events] == ["exception"]
    assert root.events[0].attributes["exception.message"] == "database is down"


async def test_5xx_is_an_error_and_4xx_is_not(spans: CapturedSpans) -> None:
    async with serving(instrument_asgi(make_app())) as url, httpx.AsyncClient() as client:
        await client.get(f"{url}/unavailable")
        await client.get(f"{url}/no/such/page")

    unavailable = spans.one("GET /unavailable")
    assert unavailable.status_code is StatusCode.ERROR
    assert unavailable.attributes["error.type"] == "503"
    not_found = spans.one("GET")  # no route matched: the method alone, never the raw path
    assert not_found.status_code is StatusCode.UNSET
    assert not_found.attributes["http.response.status_code"] == 404
    assert "http.route" not in not_found.attributes


async def test_routes_under_mounts_get_the_whole_template(spans: CapturedSpans) -> None:
    async with serving(instrument_asgi(make_app())) as url, httpx.AsyncClient() as client:
        await client.get(f"{url}/api/v1/orders/17")

    order = spans.one("GET /api/v1/orders/{order_id}")
    assert order.attributes["http.route"] == "/api/v1/orders/{order_id}"
    assert order.attributes["url.path"] == "/api/v1/orders/17"


async def test_mounts_are_found_through_middleware_wrapped_around_the_app(
    spans: CapturedSpans,
) -> None:
    app = instrument_asgi(GZipMiddleware(make_app()))
    async with serving(app) as url, httpx.AsyncClient() as client:
        await client.get(f"{url}/api/v1/orders/17")

    order = spans.one("GET /api/v1/orders/{order_id}")
    assert order.attributes["http.route"] == "/api/v1/orders/{order_id}"


async def test_works_through_add_middleware_too(spans: CapturedSpans) -> None:
    app = make_app()
    app.add_middleware(TracingMiddleware)
    async with serving(app) as url, httpx.AsyncClient() as client:
        await client.get(f"{url}/api/v1/orders/3")

    assert spans.names() == ["GET /api/v1/orders/{order_id}"]


async def test_unknown_methods_do_not_name_spans(spans: CapturedSpans) -> None:
    async with serving(instrument_asgi(make_app())) as url, httpx.AsyncClient() as client:
        # PROPFIND (WebDAV): a method the HTTP parser takes and the conventions do not name.
        await client.request("PROPFIND", f"{url}/user/1")

    span = spans.one()
    assert span.name == "HTTP /user/{id}"
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "PROPFIND"


async def test_forwarded_headers_give_server_and_client_address(spans: CapturedSpans) -> None:
    headers = {"x-forwarded-for": "203.0.113.9, 10.0.0.1", "x-forwarded-host": "shop.example:8443"}
    async with serving(instrument_asgi(make_app())) as url, httpx.AsyncClient() as client:
        await client.get(f"{url}/user/1", headers=headers)

    span = spans.one("GET /user/{id}")
    assert span.attributes["client.address"] == "203.0.113.9"
    assert span.attributes["network.peer.address"] == "127.0.0.1"
    assert span.attributes["server.address"] == "shop.example"
    assert span.attributes["server.port"] == 8443
