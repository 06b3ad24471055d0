"""Real SDK providers with in-memory exporters, and echo servers on 127.0.0.1 ephemeral ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent import futures
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.instrument.grpc.grpc_echo import Observed, aio_handlers, sync_handlers
from tests.instrument.grpc.grpc_telemetry import Telemetry


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Telemetry(tracer_provider, meter_provider, exporter, reader)
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
def observed() -> Observed:
    return Observed()


StartSyncServer = Callable[..., int]


@pytest.fixture
def start_sync_server(observed: Observed) -> Iterator[StartSyncServer]:
    """Start a grpc.server with the echo service; returns its port."""
    servers: list[grpc.Server] = []

    def start(interceptors: Sequence[Any] = (), handlers: Sequence[Any] | None = None) -> int:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), interceptors=interceptors)
        server.add_generic_rpc_handlers(handlers or sync_handlers(observed))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return port

    yield start
    for server in servers:
        server.stop(None)


@pytest.fixture
def open_sync_channel() -> Iterator[Callable[..., grpc.Channel]]:
    """Open an insecure channel to 127.0.0.1:port, optionally intercepted."""
    channels: list[grpc.Channel] = []

    def open_channel(port: int, *interceptors: Any) -> grpc.Channel:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        channels.append(channel)
        return grpc.intercept_channel(channel, *interceptors) if interceptors else channel

    yield open_channel
    for channel in channels:
        channel.close()


@pytest.fixture
async def start_aio_server(observed: Observed) -> AsyncIterator[Callable[..., Any]]:
    """Start a grpc.aio.server with the echo service; returns its port."""
    servers: list[grpc.aio.Server] = []

    async def start(interceptors: Sequence[Any] = (), handlers: Sequence[Any] | None = None) -> int:
        server = grpc.aio.server(
            interceptors=interceptors,
            migration_thread_pool=futures.ThreadPoolExecutor(max_workers=4),
        )
        server.add_generic_rpc_handlers(handlers or aio_handlers(observed))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        return port

    yield start
    for server in servers:
        await server.stop(None)
