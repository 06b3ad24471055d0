"""`rpc.client.duration` and `rpc.server.duration` histograms, read with an InMemoryMetricReader."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from tests.instrument.grpc.grpc_echo import SERVICE, UNARY
from tests.instrument.grpc.grpc_telemetry import Telemetry
from traceway.instrument.grpc import (
    aio_client_interceptors,
    aio_server_interceptor,
    client_interceptor,
    server_interceptor,
)


def by_code(telemetry: Telemetry, name: str) -> dict[int, tuple[dict[str, Any], int]]:
    points = telemetry.histogram_points(name)
    return {
        p.attributes["rpc.grpc.status_code"]: (dict(p.attributes), p.count)  # type: ignore[index]
        for p in points
    }


def check(telemetry: Telemetry) -> None:
    shared = {"rpc.system": "grpc", "rpc.service": SERVICE, "rpc.method": "Unary"}
    client = by_code(telemetry, "rpc.client.duration")
    server = by_code(telemetry, "rpc.server.duration")
    assert client == {
        0: ({**shared, "rpc.grpc.status_code": 0}, 2),
        5: ({**shared, "rpc.grpc.status_code": 5}, 1),
    }
    assert server == {
        0: ({**shared, "rpc.grpc.status_code": 0}, 2),
        5: ({**shared, "rpc.grpc.status_code": 5}, 1),
    }
    for point in telemetry.histogram_points("rpc.server.duration"):
        assert point.sum >= 0


def test_sync_durations_per_status_code(
    telemetry: Telemetry, start_sync_server: Any, open_sync_channel: Any
) -> None:
    port = start_sync_server([server_interceptor(**telemetry.providers)])
    channel = open_sync_channel(
        port, client_interceptor(target=f"127.0.0.1:{port}", **telemetry.providers)
    )
    unary = channel.unary_unary(UNARY)

    unary(b"ok")
    unary(b"ok")
    with pytest.raises(grpc.RpcError):
        unary(b"abort:NOT_FOUND")

    check(telemetry)


async def test_aio_durations_per_status_code(telemetry: Telemetry, start_aio_server: Any) -> None:
    port = await start_aio_server([aio_server_interceptor(**telemetry.providers)])
    interceptors = aio_client_interceptors(target=f"127.0.0.1:{port}", **telemetry.providers)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=interceptors) as channel:
        unary = channel.unary_unary(UNARY)
        await unary(b"ok")
        await unary(b"ok")
        with pytest.raises(grpc.aio.AioRpcError):
            await unary(b"abort:NOT_FOUND")

    # grpc.aio sends an abort's status before the handler (and its span) unwinds.
    await telemetry.async_wait_for_calls("rpc.server.duration", 3)
    check(telemetry)


def test_unknown_methods_share_one_metric_series(
    telemetry: Telemetry, start_sync_server: Any, open_sync_channel: Any
) -> None:
    port = start_sync_server([server_interceptor(**telemetry.providers)])
    channel = open_sync_channel(port)

    for name in ("A", "B", "C"):
        with pytest.raises(grpc.RpcError):
            channel.unary_unary(f"/probe.Scanner/{name}")(b"")

    [point] = telemetry.histogram_points("rpc.server.duration")
    assert dict(point.attributes or {}) == {
        "rpc.system": "grpc",
        "rpc.method": "_OTHER",
        "rpc.grpc.status_code": 12,
    }
    assert point.count == 3
