"""The gRPC services on real servers in this process: their spans, their faults, their
answers when what they call fails."""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import grpc
import httpx
import pytest

from traceway.demo import rpc, seed
from traceway.demo.faults import FaultInjector, Faults
from traceway.demo.partner import partner_app
from traceway.demo.proto import (
    auth_pb2_grpc,
    order_pb2,
    order_pb2_grpc,
    shipping_pb2,
    shipping_pb2_grpc,
    user_pb2,
    user_pb2_grpc,
)
from traceway.demo.services.auth import AuthService
from traceway.demo.services.order import OrderService, orders_database
from traceway.demo.services.shipping import ShippingService
from traceway.demo.services.tokens import Credentials, TokenSigner
from traceway.demo.services.user import UserService, users_database
from traceway.instrument import instrument_httpx
from traceway.model import SpanKind, StatusCode
from traceway.testing import CapturedSpans

GET_USER = "demo.UserService/GetUser"
VALIDATE = "demo.AuthService/ValidateCredentials"
GET_STATUS = "demo.ShippingService/GetStatus"


def faults(name: str, error_rate: float = 0.0) -> FaultInjector:
    return FaultInjector(name, Faults(error_rate=error_rate), random.Random(1))


@asynccontextmanager
async def auth_server(error_rate: float = 0.0) -> AsyncIterator[str]:
    server = rpc.aio_server()
    service = AuthService(
        Credentials([*seed.ACCOUNTS, seed.SERVICE_ACCOUNT]),
        TokenSigner(b"a test secret, 16 bytes or more"),
        faults("auth-service", error_rate),
    )
    auth_pb2_grpc.add_AuthServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


@contextmanager
def user_server(auth_address: str) -> Iterator[str]:
    channel = rpc.sync_channel(auth_address)
    service = UserService(
        users_database(), auth_pb2_grpc.AuthServiceStub(channel), faults("user-service")
    )
    server = rpc.sync_server(max_workers=2)
    user_pb2_grpc.add_UserServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None).wait()
        channel.close()


async def get_user(address: str, user_id: str) -> user_pb2.User:
    async with rpc.aio_channel(address) as channel:
        stub = user_pb2_grpc.UserServiceStub(channel)
        return await stub.GetUser(user_pb2.GetUserRequest(user_id=user_id), timeout=10)


async def test_get_user_asks_auth_then_reads_its_database(spans: CapturedSpans) -> None:
    async with auth_server() as auth:
        with user_server(auth) as users:
            user = await get_user(users, "3")

    assert (user.id, user.name, user.tenant_id) == ("3", "Carol Danvers", "initech")
    spans.assert_tree(
        {
            GET_USER: {
                GET_USER: {
                    VALIDATE: {VALIDATE: {"check password": {}}},
                    "SELECT users": {},
                }
            }
        }
    )
    query = spans.one("SELECT users")
    assert query.kind is SpanKind.CLIENT
    assert query.attributes["db.system.name"] == "sqlite"
    assert query.attributes["db.operation.name"] == "SELECT"
    assert query.attributes["db.collection.name"] == "users"
    assert query.attributes["db.query.text"].endswith("WHERE id = ?")
    server = spans.find(GET_USER, **{"user.id": "3"})
    assert {span.kind for span in server} == {SpanKind.CLIENT, SpanKind.SERVER}


async def test_an_injected_auth_fault_is_on_auth_and_passed_on_by_user(
    spans: CapturedSpans,
) -> None:
    async with auth_server(error_rate=1.0) as auth:
        with user_server(auth) as users, pytest.raises(grpc.aio.AioRpcError) as failure:
            await get_user(users, "3")

    message = "injected fault: auth-service fails 100% of requests"
    assert failure.value.code() is grpc.StatusCode.UNAVAILABLE
    assert failure.value.details() == f"auth-service: {message}"
    auth_span = next(s for s in spans.find(VALIDATE) if s.kind is SpanKind.SERVER)
    assert auth_span.status_code is StatusCode.ERROR
    assert auth_span.status_message == message
    user_span = next(s for s in spans.find(GET_USER) if s.kind is SpanKind.SERVER)
    assert user_span.status_code is StatusCode.ERROR
    assert "check password" not in spans.names()
    assert "SELECT users" not in spans.names()


async def test_an_invalid_user_id_is_refused_before_any_call(spans: CapturedSpans) -> None:
    async with auth_server() as auth:
        with user_server(auth) as users, pytest.raises(grpc.aio.AioRpcError) as failure:
            await get_user(users, "-1")

    assert failure.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert VALIDATE not in spans.names()


@asynccontextmanager
async def shipping_server(partner_error_rate: float) -> AsyncIterator[str]:
    partner = httpx.AsyncClient(
        transport=httpx.ASGITransport(partner_app(faults("partner", partner_error_rate))),
        base_url="http://partner.example",
    )
    instrument_httpx(partner)
    server = rpc.aio_server()
    shipping_pb2_grpc.add_ShippingServiceServicer_to_server(
        ShippingService(partner, faults("shipping-service")), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)
        await partner.aclose()


async def get_status(address: str, tracking_number: str) -> shipping_pb2.ShipmentStatus:
    async with rpc.aio_channel(address) as channel:
        stub = shipping_pb2_grpc.ShippingServiceStub(channel)
        request = shipping_pb2.GetStatusRequest(tracking_number=tracking_number)
        return await stub.GetStatus(request, timeout=10)


async def test_shipping_asks_the_partner_over_traced_http(spans: CapturedSpans) -> None:
    async with shipping_server(partner_error_rate=0.0) as shipping:
        status = await get_status(shipping, seed.ORDERS[0].tracking_number)

    assert status.carrier
    assert status.status
    spans.assert_tree({GET_STATUS: {GET_STATUS: {"GET": {}}}})
    partner_call = spans.one("GET")
    assert partner_call.kind is SpanKind.CLIENT
    assert partner_call.attributes["http.response.status_code"] == 200


async def test_a_partner_503_makes_the_client_span_and_shipping_fail(spans: CapturedSpans) -> None:
    async with shipping_server(partner_error_rate=1.0) as shipping:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await get_status(shipping, seed.ORDERS[0].tracking_number)

    assert failure.value.code() is grpc.StatusCode.UNAVAILABLE
    partner_call = spans.one("GET")
    assert partner_call.status_code is StatusCode.ERROR
    assert partner_call.attributes["http.response.status_code"] == 503
    server = next(s for s in spans.find(GET_STATUS) if s.kind is SpanKind.SERVER)
    assert server.status_code is StatusCode.ERROR
    assert server.status_message.startswith("the shipping partner answered 503")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_an_order_is_answered_without_shipping_when_shipping_is_down(
    spans: CapturedSpans,
) -> None:
    channel = rpc.sync_channel(f"127.0.0.1:{closed_port()}")
    service = OrderService(
        orders_database(), shipping_pb2_grpc.ShippingServiceStub(channel), faults("order")
    )
    server = rpc.sync_server(max_workers=2)
    order_pb2_grpc.add_OrderServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    order = seed.ORDERS[0]
    try:
        async with rpc.aio_channel(f"127.0.0.1:{port}") as client:
            answer = await order_pb2_grpc.OrderServiceStub(client).GetOrder(
                order_pb2.GetOrderRequest(order_id=str(order.id), user_id=str(order.user_id)),
                timeout=10,
            )
    finally:
        server.stop(None).wait()
        channel.close()

    assert answer.shipping_status == "unknown"
    assert answer.tracking_number == order.tracking_number
    failed = next(s for s in spans.find(GET_STATUS) if s.kind is SpanKind.CLIENT)
    assert failed.status_code is StatusCode.ERROR
    assert failed.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    order_span = next(
        s for s in spans.find("demo.OrderService/GetOrder") if s.kind is SpanKind.SERVER
    )
    assert order_span.status_code is not StatusCode.ERROR
    assert [event.name for event in order_span.events] == ["shipping status unknown"]
