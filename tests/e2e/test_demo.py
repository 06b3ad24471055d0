"""``traceway demo`` end to end: real processes, requests through the gateway, traces read
back through traceway's Jaeger-compatible API.

One demo serves the whole module (starting seven processes is the expensive part); the
partner fails every request, so that the injected failure is in every order's trace. The
test that kills a service comes last.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.demo.demo_process import (
    DemoProcess,
    parent_id,
    spans_by_name,
    start_demo,
    tags,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

GET_USER = "demo.UserService/GetUser"
VALIDATE = "demo.AuthService/ValidateCredentials"
VERIFY = "demo.AuthService/VerifyToken"
GET_ORDER = "demo.OrderService/GetOrder"
GET_STATUS = "demo.ShippingService/GetStatus"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    running = start_demo(tmp_path_factory.mktemp("demo"), "--memory", "--fault", "partner.error=1")
    yield running
    running.stop()


def login(demo: DemoProcess) -> str:
    response = httpx.post(
        f"{demo.gateway}/login", json={"username": "alice", "password": "wonderland"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def test_a_user_request_is_one_trace_from_the_gateway_to_the_database(demo: DemoProcess) -> None:
    response = httpx.get(f"{demo.gateway}/user/2", timeout=10)

    assert response.status_code == 200
    assert response.json()["name"] == "Bob Builder"
    trace_id = response.headers["x-trace-id"]
    trace = demo.trace(trace_id, spans=7)
    spans = spans_by_name(trace)
    root = spans[("gateway", "GET /user/{id}")]
    gateway_call = spans[("gateway", GET_USER)]
    user_server = spans[("user-service", GET_USER)]
    auth_call = spans[("user-service", VALIDATE)]
    auth_server = spans[("auth-service", VALIDATE)]
    query = spans[("user-service", "SELECT users")]
    assert parent_id(root) is None
    assert parent_id(gateway_call) == root["spanID"]
    assert parent_id(user_server) == gateway_call["spanID"]
    assert parent_id(auth_call) == user_server["spanID"]
    assert parent_id(auth_server) == auth_call["spanID"]
    assert parent_id(query) == user_server["spanID"]
    assert {span["traceID"] for span in trace["spans"]} == {trace_id}
    assert tags(user_server)["span.kind"] == "server"
    assert tags(user_server)["user.id"] == "2"
    database = tags(query)
    assert database["span.kind"] == "client"
    assert database["db.system.name"] == "sqlite"
    assert database["db.operation.name"] == "SELECT"
    assert database["db.query.text"] == "SELECT id, name, email, tenant_id FROM users WHERE id = ?"


def test_an_order_trace_shows_the_partner_failure_on_the_span_where_it_happened(
    demo: DemoProcess,
) -> None:
    token = login(demo)

    response = httpx.get(
        f"{demo.gateway}/orders/1001", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )

    # The order is answered without its shipping status: the partner failed.
    assert response.status_code == 200, response.text
    assert response.json()["shipping_status"] == "unknown"
    trace = demo.trace(response.headers["x-trace-id"], spans=9)
    spans = spans_by_name(trace)
    root = spans[("gateway", "GET /orders/{id}")]
    assert parent_id(spans[("gateway", VERIFY)]) == root["spanID"]
    assert parent_id(spans[("auth-service", VERIFY)]) == spans[("gateway", VERIFY)]["spanID"]
    order_server = spans[("order-service", GET_ORDER)]
    assert parent_id(order_server) == spans[("gateway", GET_ORDER)]["spanID"]
    assert parent_id(spans[("order-service", "SELECT orders")]) == order_server["spanID"]
    shipping_call = spans[("order-service", GET_STATUS)]
    shipping_server = spans[("shipping-service", GET_STATUS)]
    partner_call = spans[("shipping-service", "GET")]
    assert parent_id(shipping_call) == order_server["spanID"]
    assert parent_id(shipping_server) == shipping_call["spanID"]
    assert parent_id(partner_call) == shipping_server["spanID"]
    # The failure is marked where it happened: the call to the partner, and the shipping
    # service's answer, with the message; the order service and the gateway did fine.
    partner = tags(partner_call)
    assert partner["span.kind"] == "client"
    assert partner["error"] is True
    assert partner["http.response.status_code"] == 503
    server = tags(shipping_server)
    assert server["error"] is True
    assert "the shipping partner answered 503" in server["otel.status_description"]
    assert tags(shipping_call)["error"] is True
    assert "error" not in tags(order_server)
    assert "error" not in tags(root)
    assert tags(order_server)["user.id"] == "1"
    assert tags(order_server)["tenant.id"] == "acme"


def test_grpc_errors_become_http_statuses(demo: DemoProcess) -> None:
    invalid = httpx.get(f"{demo.gateway}/user/abc", timeout=10)
    unknown = httpx.get(f"{demo.gateway}/user/999", timeout=10)
    no_token = httpx.get(f"{demo.gateway}/orders", timeout=10)
    bad_token = httpx.get(
        f"{demo.gateway}/orders", headers={"Authorization": "Bearer forged.token"}, timeout=10
    )

    assert (invalid.status_code, invalid.json()["error"]) == (400, "INVALID_ARGUMENT")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "NOT_FOUND")
    assert (no_token.status_code, bad_token.status_code) == (401, 401)
    assert invalid.json()["trace_id"] == invalid.headers["x-trace-id"]


def test_load_sends_traffic_and_summarises_it(demo: DemoProcess) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "traceway.cli", "load", "--gateway", demo.gateway, "--rate", "20",
         "--duration", "1s", "--scenario", "mixed", "--seed", "4"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("requests  20 in ")
    assert lines[1].startswith("status    200: ")
    assert lines[2].startswith("latency   p50 ")


def test_killing_a_service_shows_the_failed_call_and_the_rest_keeps_answering(
    demo: DemoProcess,
) -> None:
    token = login(demo)
    os.kill(demo.pid_of("shipping"), signal.SIGKILL)

    order = httpx.get(
        f"{demo.gateway}/orders/1002", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    user = httpx.get(f"{demo.gateway}/user/3", timeout=10)

    assert order.status_code == 200, order.text
    assert order.json()["shipping_status"] == "unknown"
    assert user.status_code == 200
    spans = spans_by_name(demo.trace(order.headers["x-trace-id"], spans=7))
    failed_call = tags(spans[("order-service", GET_STATUS)])
    assert failed_call["error"] is True
    assert failed_call["rpc.grpc.status_code"] == 14  # UNAVAILABLE
    assert ("shipping-service", GET_STATUS) not in spans


def test_a_taken_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "traceway.cli", "demo", "--memory", "--gateway-port",
             str(port), "--base-port", "0", "--ui-port", "0", "--otlp-grpc-port", "0",
             "--otlp-http-port", "0"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} for gateway (--gateway-port)" in result.stderr
    assert "Traceback" not in result.stderr
