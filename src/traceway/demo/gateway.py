"""gateway (HTTP): the demo's public API, in front of the gRPC services.

    GET  /user/{id}     -> user-service GetUser
    POST /login         -> auth-service Login   {"username": ..., "password": ...}
    GET  /orders        -> auth-service VerifyToken, then order-service ListOrders
    GET  /orders/{id}   -> auth-service VerifyToken, then order-service GetOrder
    GET  /healthz

Each request is the root span of its trace (instrument_asgi); every response carries the
trace id in ``X-Trace-Id``, and errors carry it in their JSON body too. gRPC failures
become HTTP statuses in one place, ``http_status``.

    GATEWAY_ADDR=127.0.0.1:8080 USER_SERVICE_ADDR=... AUTH_SERVICE_ADDR=... \\
        ORDER_SERVICE_ADDR=... python -m traceway.demo.gateway
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import grpc
from opentelemetry import trace
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from traceway.demo import rpc, topology
from traceway.demo.faults import FaultInjector
from traceway.demo.http_serving import serve_http
from traceway.demo.proto import (
    auth_pb2,
    auth_pb2_grpc,
    order_pb2,
    order_pb2_grpc,
    user_pb2,
    user_pb2_grpc,
)
from traceway.demo.runtime import ServiceProcess
from traceway.instrument import instrument_asgi

__all__ = ["TRACE_ID_HEADER", "Backends", "gateway_app", "http_status", "main"]

TRACE_ID_HEADER: Final = "x-trace-id"
CALL_TIMEOUT_S: Final = 3.0
AUTH_TIMEOUT_S: Final = 1.0

_HTTP_STATUS: Final[Mapping[grpc.StatusCode, int]] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}

_logger = logging.getLogger("traceway.demo.gateway")


def http_status(code: grpc.StatusCode) -> int:
    """The HTTP status for a gRPC status (Google's API mapping); 500 for the rest."""
    return _HTTP_STATUS.get(code, 500)


class InjectedFault(Exception):
    """A request the gateway fails on purpose (``--fault gateway.error=...``)."""


class _Unauthenticated(Exception):
    """No usable bearer token on the request."""


@dataclass(frozen=True)
class Backends:
    """The gateway's traced gRPC stubs."""

    users: user_pb2_grpc.UserServiceAsyncStub
    auth: auth_pb2_grpc.AuthServiceAsyncStub
    orders: order_pb2_grpc.OrderServiceAsyncStub


@dataclass(frozen=True)
class _Caller:
    """The user behind a request's bearer token."""

    user_id: str
    tenant_id: str

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """For the services: their interceptors put these on every span."""
        return ((rpc.USER_ID_KEY, self.user_id), (rpc.TENANT_ID_KEY, self.tenant_id))


def _trace_id() -> str:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def _error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    body = {"error": code, "message": message, "trace_id": _trace_id()}
    return JSONResponse(body, status_code=status, headers=headers or None)


async def _grpc_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, grpc.aio.AioRpcError):
        raise exc
    code = exc.code()
    return _error(http_status(code), code.name, exc.details() or code.name)


async def _injected_fault(request: Request, exc: Exception) -> Response:
    trace.get_current_span().record_exception(exc)
    return _error(503, "UNAVAILABLE", str(exc), **{"Retry-After": "1"})


async def _unauthenticated(request: Request, exc: Exception) -> Response:
    return _error(401, "UNAUTHENTICATED", str(exc), **{"WWW-Authenticate": "Bearer"})


def _user_json(user: user_pb2.User) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "email": user.email, "tenant_id": user.tenant_id}


def _order_json(order: order_pb2.Order) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": order.id,
        "user_id": order.user_id,
        "item": order.item,
        "quantity": order.quantity,
        "total": f"{order.total_cents / 100:.2f} {order.currency}",
        "tracking_number": order.tracking_number,
    }
    if order.shipping_status:
        body["shipping_status"] = order.shipping_status
    if order.estimated_delivery:
        body["estimated_delivery"] = order.estimated_delivery
    return body


class _Gateway:
    """The route handlers."""

    def __init__(self, backends: Backends, faults: FaultInjector) -> None:
        self._backends = backends
        self._faults = faults

    async def _inject(self) -> None:
        failure = await self._faults.apply_async(_logger)
        if failure is not None:
            raise InjectedFault(failure)

    async def _caller(self, request: Request) -> _Caller:
        """Who sends the request, from its bearer token, as auth-service says."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Unauthenticated("send 'Authorization: Bearer TOKEN'; POST /login gives one")
        claims = await self._backends.auth.VerifyToken(
            auth_pb2.VerifyTokenRequest(token=token.strip()), timeout=AUTH_TIMEOUT_S
        )
        trace.get_current_span().set_attributes(
            {"user.id": claims.user_id, "tenant.id": claims.tenant_id}
        )
        return _Caller(claims.user_id, claims.tenant_id)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def user(self, request: Request) -> Response:
        await self._inject()
        user = await self._backends.users.GetUser(
            user_pb2.GetUserRequest(user_id=request.path_params["id"]), timeout=CALL_TIMEOUT_S
        )
        return JSONResponse(_user_json(user))

    async def login(self, request: Request) -> Response:
        await self._inject()
        try:
            body = json.loads(await request.body())
            username, password = str(body["username"]), str(body["password"])
        except (ValueError, KeyError, TypeError):
            return _error(
                400,
                "INVALID_ARGUMENT",
                'send JSON {"username": "alice", "password": "wonderland"}',
            )
        answer = await self._backends.auth.Login(
            auth_pb2.LoginRequest(username=username, password=password), timeout=AUTH_TIMEOUT_S
        )
        trace.get_current_span().set_attribute("user.id", answer.user_id)
        return JSONResponse(
            {"token": answer.token, "user_id": answer.user_id, "expires_at": answer.expires_at_unix}
        )

    async def orders(self, request: Request) -> Response:
        await self._inject()
        caller = await self._caller(request)
        limit = request.query_params.get("limit", "0")
        if not limit.isdigit():
            return _error(400, "INVALID_ARGUMENT", f"limit {limit!r} is not a whole number")
        answer = await self._backends.orders.ListOrders(
            order_pb2.ListOrdersRequest(user_id=caller.user_id, limit=int(limit)),
            timeout=CALL_TIMEOUT_S,
            metadata=caller.metadata(),
        )
        return JSONResponse({"orders": [_order_json(order) for order in answer.orders]})

    async def order(self, request: Request) -> Response:
        await self._inject()
        caller = await self._caller(request)
        order = await self._backends.orders.GetOrder(
            order_pb2.GetOrderRequest(order_id=request.path_params["id"], user_id=caller.user_id),
            timeout=CALL_TIMEOUT_S,
            metadata=caller.metadata(),
        )
        return JSONResponse(_order_json(order))


class _TraceIdHeader:
    """Adds ``X-Trace-Id`` to every response, so a client can look its trace up."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id = _trace_id()

        async def send_with_trace_id(message: Message) -> None:
            if message["type"] == "http.response.start" and trace_id:
                headers = list(message.get("headers", []))
                headers.append((TRACE_ID_HEADER.encode(), trace_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_trace_id)


def gateway_app(backends: Backends, faults: FaultInjector) -> ASGIApp:
    """The gateway's ASGI app, traced: serve the returned app."""
    gateway = _Gateway(backends, faults)
    app = Starlette(
        routes=[
            Route("/healthz", gateway.healthz, methods=["GET"]),
            Route("/user/{id}", gateway.user, methods=["GET"]),
            Route("/login", gateway.login, methods=["POST"]),
            Route("/orders", gateway.orders, methods=["GET"]),
            Route("/orders/{id}", gateway.order, methods=["GET"]),
        ],
        exception_handlers={
            grpc.aio.AioRpcError: _grpc_error,
            InjectedFault: _injected_fault,
            _Unauthenticated: _unauthenticated,
        },
    )
    return instrument_asgi(_TraceIdHeader(app))


@contextlib.asynccontextmanager
async def backends_from(environ: Mapping[str, str]) -> AsyncIterator[Backends]:
    """Channels to the services at the addresses in ``environ``, closed on exit."""
    channels = [
        rpc.aio_channel(topology.target_of(process, environ))
        for process in (topology.USER, topology.AUTH, topology.ORDER)
    ]
    try:
        yield Backends(
            user_pb2_grpc.UserServiceStub(channels[0]),
            auth_pb2_grpc.AuthServiceStub(channels[1]),
            order_pb2_grpc.OrderServiceStub(channels[2]),
        )
    finally:
        for channel in channels:
            await channel.close(None)


async def serve(process: ServiceProcess) -> None:
    """Serve until asked to stop."""
    async with backends_from(process.environ) as backends:
        await serve_http(gateway_app(backends, process.faults()), process)


def main(environ: Mapping[str, str] = os.environ) -> None:
    """Serve until SIGTERM/SIGINT."""
    asyncio.run(serve(ServiceProcess(topology.GATEWAY, environ)))


if __name__ == "__main__":
    main()
