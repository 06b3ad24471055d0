"""The gateway: gRPC failures as HTTP statuses, bearer tokens, the trace id on every answer."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest

from traceway.demo.faults import FaultInjector, Faults
from traceway.demo.gateway import Backends, gateway_app, http_status
from traceway.demo.proto import auth_pb2, user_pb2
from traceway.model import StatusCode
from traceway.testing import CapturedSpans


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.PERMISSION_DENIED, 403),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
        (grpc.StatusCode.INTERNAL, 500),
        (grpc.StatusCode.UNKNOWN, 500),
        (grpc.StatusCode.DATA_LOSS, 500),
    ],
)
def test_grpc_statuses_map_to_http_statuses(code: grpc.StatusCode, status: int) -> None:
    assert http_status(code) == status


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


class Users:
    def __init__(self, error: grpc.aio.AioRpcError | None = None) -> None:
        self.error = error

    async def GetUser(self, request: user_pb2.GetUserRequest, **kwargs: Any) -> user_pb2.User:
        if self.error is not None:
            raise self.error
        return user_pb2.User(id=request.user_id, name="Ada", email="ada@x.example", tenant_id="t")


class Auth:
    def __init__(self) -> None:
        self.verified: list[str] = []

    async def VerifyToken(self, request: auth_pb2.VerifyTokenRequest, **kwargs: Any) -> Any:
        self.verified.append(request.token)
        raise rpc_error(grpc.StatusCode.UNAUTHENTICATED, "invalid token signature")


def client(
    users: Users, auth: Auth | None = None, faults: Faults | None = None
) -> httpx.AsyncClient:
    backends = Backends(users, auth or Auth(), None)  # type: ignore[arg-type]
    injector = FaultInjector("gateway", faults or Faults(), random.Random(1))
    app = gateway_app(backends, injector)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gateway")


@pytest.fixture
async def gateway() -> AsyncIterator[httpx.AsyncClient]:
    async with client(Users()) as c:
        yield c


async def test_a_user_is_answered_with_its_trace_id(
    gateway: httpx.AsyncClient, spans: CapturedSpans
) -> None:
    response = await gateway.get("/user/7")

    assert response.status_code == 200
    assert response.json() == {"id": "7", "name": "Ada", "email": "ada@x.example", "tenant_id": "t"}
    root = spans.one("GET /user/{id}")
    assert response.headers["x-trace-id"] == root.trace_id


async def test_a_failed_call_is_answered_with_the_mapped_status_and_the_details(
    spans: CapturedSpans,
) -> None:
    error = rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "auth-service: too slow")
    async with client(Users(error)) as gateway:
        response = await gateway.get("/user/7")

    assert response.status_code == 504
    body = response.json()
    assert body == {
        "error": "DEADLINE_EXCEEDED",
        "message": "auth-service: too slow",
        "trace_id": response.headers["x-trace-id"],
    }
    assert spans.one("GET /user/{id}").status_code is StatusCode.ERROR


async def test_orders_need_a_bearer_token_checked_by_auth() -> None:
    auth = Auth()
    async with client(Users(), auth) as gateway:
        missing = await gateway.get("/orders")
        forged = await gateway.get("/orders/1001", headers={"Authorization": "Bearer abc.def"})

    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert auth.verified == ["abc.def"]
    assert forged.status_code == 401
    assert forged.json()["message"] == "invalid token signature"


async def test_login_needs_a_username_and_a_password(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/login", content=b"alice:wonderland")

    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_ARGUMENT"


async def test_an_injected_gateway_fault_is_recorded_on_the_root_span(spans: CapturedSpans) -> None:
    async with client(Users(), faults=Faults(error_rate=1.0)) as gateway:
        response = await gateway.get("/user/7")
        health = await gateway.get("/healthz")

    assert response.status_code == 503
    assert "injected fault" in response.json()["message"]
    assert health.status_code == 200
    root = spans.one("GET /user/{id}")
    assert root.status_code is StatusCode.ERROR
    assert [event.name for event in root.events] == ["exception"]
