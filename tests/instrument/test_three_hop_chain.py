"""HTTP gateway → service A → service B over real sockets is one trace with the right tree."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.instrument.http_servers import serving
from traceway.instrument import instrument_asgi, traced
from traceway.instrument.grpc import aio_client_interceptors, aio_server_interceptor
from traceway.model import SpanKind
from traceway.testing import CapturedSpans

GET_USER = "/demo.UserService/GetUser"
VALIDATE = "/demo.AuthService/Validate"
INCOMING_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING_PARENT = "00f067aa0ba902b7"


@asynccontextmanager
async def grpc_service(method: str, handle: object) -> AsyncIterator[str]:
    """A grpc.aio server for one bytes-in, bytes-out method, traced by traceway."""
    service, name = method.strip("/").split("/")
    server = grpc.aio.server(interceptors=[aio_server_interceptor()])
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                service, {name: grpc.unary_unary_rpc_method_handler(handle)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def test_gateway_to_a_to_b_is_one_trace(spans: CapturedSpans) -> None:
    async def validate(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return b"valid:" + request

    async with grpc_service(VALIDATE, validate) as auth_address:
        auth = grpc.aio.insecure_channel(auth_address, interceptors=aio_client_interceptors())

        async def get_user(
            request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
        ) -> bytes:
            with traced("database query", **{"db.system": "sqlite"}):
                answer: bytes = await auth.unary_unary(VALIDATE)(request)
            return answer

        async with grpc_service(GET_USER, get_user) as user_address:
            users = grpc.aio.insecure_channel(user_address, interceptors=aio_client_interceptors())

            async def user_route(request: Request) -> PlainTextResponse:
                answer = await users.unary_unary(GET_USER)(request.path_params["id"].encode())
                return PlainTextResponse(answer.decode())

            gateway = instrument_asgi(Starlette(routes=[Route("/user/{id}", user_route)]))
            async with serving(gateway) as base_url, httpx.AsyncClient() as client:
                response = await client.get(
                    f"{base_url}/user/7",
                    headers={"traceparent": f"00-{INCOMING_TRACE}-{INCOMING_PARENT}-01"},
                )
            await users.close()
        await auth.close()

    assert response.text == "valid:7"
    spans.assert_tree(
        {
            "GET /user/{id}": {
                "demo.UserService/GetUser": {
                    "demo.UserService/GetUser": {
                        "database query": {
                            "demo.AuthService/Validate": {"demo.AuthService/Validate": {}}
                        }
                    }
                }
            }
        }
    )
    assert spans.trace_ids() == {INCOMING_TRACE}
    root = spans.one("GET /user/{id}")
    assert root.kind is SpanKind.SERVER
    assert root.parent_span_id == INCOMING_PARENT
    assert root.attributes["http.route"] == "/user/{id}"
    assert root.attributes["http.response.status_code"] == 200
    (user_client,) = spans.children_of(root)
    assert user_client.kind is SpanKind.CLIENT
    (user_server,) = spans.children_of(user_client)
    assert user_server.kind is SpanKind.SERVER
    assert user_server.attributes["rpc.service"] == "demo.UserService"
