"""A bytes-only echo service, sync and grpc.aio, steered by its first request message.

Commands: ``ok`` (echo), ``raise`` (ValueError), ``abort:<CODE>``, ``set_code:<CODE>``,
``wait`` (until the client is gone), ``forever`` (stream until cancelled). Every handled
call records what its handler saw in ``Observed``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry import baggage, trace
from opentelemetry.trace import SpanContext

SERVICE = "traceway.test.Echo"
UNARY = f"/{SERVICE}/Unary"
SERVER_STREAM = f"/{SERVICE}/ServerStream"
CLIENT_STREAM = f"/{SERVICE}/ClientStream"
BIDI = f"/{SERVICE}/Bidi"
WRITER_STREAM = f"/{SERVICE}/WriterStream"  # aio only: context.write() instead of yield
HEALTH_CHECK = "/grpc.health.v1.Health/Check"

KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
METHOD_OF_KIND = {
    "unary_unary": UNARY,
    "unary_stream": SERVER_STREAM,
    "stream_unary": CLIENT_STREAM,
    "stream_stream": BIDI,
}
STREAM_REPLIES = 3


@dataclass
class Seen:
    """What one handler observed."""

    method: str
    span_context: SpanContext
    baggage: dict[str, object]
    metadata: tuple[tuple[str, str | bytes], ...]


@dataclass
class Observed:
    """Thread-safe record of handled calls."""

    calls: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, metadata: Iterable[tuple[str, str | bytes]] | None) -> None:
        seen = Seen(
            method,
            trace.get_current_span().get_span_context(),
            dict(baggage.get_all()),
            tuple((k, v) for k, v in metadata or ()),
        )
        with self.lock:
            self.calls.append(seen)

    def last(self) -> Seen:
        with self.lock:
            return self.calls[-1]


def _code(name: str) -> grpc.StatusCode:
    return grpc.StatusCode[name]


# --- sync ------------------------------------------------------------------------------


def _sync_command(command: bytes, context: grpc.ServicerContext) -> None:
    text = command.decode()
    if text == "raise":
        raise ValueError("boom")
    if text.startswith("abort:"):
        name = text.partition(":")[2]
        context.abort(_code(name), f"aborted with {name}")
    if text.startswith("set_code:"):
        name = text.partition(":")[2]
        context.set_code(_code(name))
        context.set_details(f"set to {name}")
    if text == "wait":
        give_up = time.monotonic() + 10
        while context.is_active() and time.monotonic() < give_up:
            time.sleep(0.01)


def _sync_replies(command: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    if command == b"forever":
        for _ in range(2000):
            if not context.is_active():
                return
            yield b"tick"
            time.sleep(0.01)
        return
    yield command
    _sync_command(command, context)
    for _ in range(STREAM_REPLIES - 1):
        yield command


def sync_handlers(observed: Observed) -> grpc.GenericRpcHandler:
    """The echo service for grpc.server."""

    def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
        observed.record(UNARY, context.invocation_metadata())
        _sync_command(request, context)
        return request

    def server_stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        observed.record(SERVER_STREAM, context.invocation_metadata())
        yield from _sync_replies(request, context)

    def client_stream(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        observed.record(CLIENT_STREAM, context.invocation_metadata())
        first = next(requests)
        _sync_command(first, context)
        return b"".join([first, *requests])

    def bidi(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        observed.record(BIDI, context.invocation_metadata())
        first = next(requests)
        yield from _sync_replies(first, context)

    def health(request: bytes, context: grpc.ServicerContext) -> bytes:
        return b"SERVING"

    return _generic(unary, server_stream, client_stream, bidi, health)


def _generic(unary: Any, server_stream: Any, client_stream: Any, bidi: Any, health: Any) -> Any:
    echo = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        },
    )
    checks = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(health)}
    )
    return echo, checks


def call_sync(channel: grpc.Channel, kind: str, command: bytes = b"ok", **kwargs: Any) -> Any:
    """Make one call of `kind` and return its response(s) as bytes or a list of bytes."""
    method = METHOD_OF_KIND[kind]
    if kind == "unary_unary":
        return channel.unary_unary(method)(command, **kwargs)
    if kind == "unary_stream":
        return list(channel.unary_stream(method)(command, **kwargs))
    if kind == "stream_unary":
        return channel.stream_unary(method)(iter([command, b"!"]), **kwargs)
    return list(channel.stream_stream(method)(iter([command]), **kwargs))


# --- grpc.aio --------------------------------------------------------------------------


async def _aio_command(command: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    text = command.decode()
    if text == "raise":
        raise ValueError("boom")
    if text.startswith("abort:"):
        name = text.partition(":")[2]
        await context.abort(_code(name), f"aborted with {name}")
    if text.startswith("set_code:"):
        name = text.partition(":")[2]
        context.set_code(_code(name))
        context.set_details(f"set to {name}")
    if text == "wait":
        await asyncio.sleep(10)


async def _aio_replies(
    command: bytes, context: grpc.aio.ServicerContext[Any, Any]
) -> AsyncIterator[bytes]:
    if command == b"forever":
        for _ in range(2000):
            yield b"tick"
            await asyncio.sleep(0.01)
        return
    yield command
    await _aio_command(command, context)
    for _ in range(STREAM_REPLIES - 1):
        yield command


def aio_handlers(observed: Observed) -> Any:
    """The echo service for grpc.aio.server, plus WriterStream (context.write style)."""

    async def unary(request: bytes, context: Any) -> bytes:
        observed.record(UNARY, context.invocation_metadata())
        await _aio_command(request, context)
        return request

    async def server_stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
        observed.record(SERVER_STREAM, context.invocation_metadata())
        async for reply in _aio_replies(request, context):
            yield reply

    async def client_stream(requests: AsyncIterator[bytes], context: Any) -> bytes:
        observed.record(CLIENT_STREAM, context.invocation_metadata())
        received = [r async for r in requests]
        await _aio_command(received[0], context)
        return b"".join(received)

    async def bidi(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        observed.record(BIDI, context.invocation_metadata())
        first = await requests.__anext__()
        async for reply in _aio_replies(first, context):
            yield reply

    async def writer_stream(request: bytes, context: Any) -> None:
        observed.record(WRITER_STREAM, context.invocation_metadata())
        async for reply in _aio_replies(request, context):
            await context.write(reply)

    async def health(request: bytes, context: Any) -> bytes:
        return b"SERVING"

    echo, checks = _generic(unary, server_stream, client_stream, bidi, health)
    writer = grpc.method_handlers_generic_handler(
        SERVICE, {"WriterStream": grpc.unary_stream_rpc_method_handler(writer_stream)}
    )
    return echo, checks, writer


async def call_aio(
    channel: grpc.aio.Channel, kind: str, command: bytes = b"ok", **kwargs: Any
) -> Any:
    """Make one grpc.aio call of `kind` and return its response(s)."""
    method = METHOD_OF_KIND[kind]
    if kind == "unary_unary":
        return await channel.unary_unary(method)(command, **kwargs)
    if kind == "unary_stream":
        return [r async for r in channel.unary_stream(method)(command, **kwargs)]
    if kind == "stream_unary":
        return await channel.stream_unary(method)(iter([command, b"!"]), **kwargs)
    return [r async for r in channel.stream_stream(method)(iter([command]), **kwargs)]


# --- responses that cannot be serialized ---------------------------------------------

STRICT_SERVICE = "traceway.test.Strict"
STRICT_UNARY = f"/{STRICT_SERVICE}/Unary"


def strict_bytes(response: object) -> bytes:
    """A response serializer that refuses all but bytes, as a protobuf one refuses None."""
    if not isinstance(response, bytes):
        raise TypeError(f"cannot serialize a {type(response).__name__}")
    return response


def _strict(unary: Any) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        STRICT_SERVICE,
        {"Unary": grpc.unary_unary_rpc_method_handler(unary, response_serializer=strict_bytes)},
    )


def _strict_reply(request: bytes, context: Any) -> bytes | None:
    if request == b"missing":
        context.set_code(grpc.StatusCode.NOT_FOUND)
        context.set_details("no such thing")
        return None
    return None if request == b"none" else request


def strict_sync_handlers() -> grpc.GenericRpcHandler:
    """Unary: the request back; for ``none`` None, which cannot be sent; for ``missing``
    NOT_FOUND set on the context, and None."""
    return _strict(_strict_reply)


def strict_aio_handlers() -> grpc.GenericRpcHandler:
    """``strict_sync_handlers`` for grpc.aio, as a coroutine."""

    async def unary(request: bytes, context: Any) -> bytes | None:
        return _strict_reply(request, context)

    return _strict(unary)
