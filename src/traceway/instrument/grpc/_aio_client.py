"""Client interceptors for `grpc.aio` channels: one object per call kind, as grpc.aio asks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar, cast

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace

from traceway.instrument.grpc._common import (
    CANCELLED,
    OK,
    UNKNOWN,
    code_value,
    with_propagation,
)
from traceway.instrument.grpc._telemetry import ActiveRpc, RpcTelemetry

if TYPE_CHECKING:
    _UnaryUnary: TypeAlias = grpc.aio.UnaryUnaryClientInterceptor[Any, Any]
    _UnaryStream: TypeAlias = grpc.aio.UnaryStreamClientInterceptor[Any, Any]
    _StreamUnary: TypeAlias = grpc.aio.StreamUnaryClientInterceptor[Any, Any]
    _StreamStream: TypeAlias = grpc.aio.StreamStreamClientInterceptor[Any, Any]
else:
    _UnaryUnary = grpc.aio.UnaryUnaryClientInterceptor
    _UnaryStream = grpc.aio.UnaryStreamClientInterceptor
    _StreamUnary = grpc.aio.StreamUnaryClientInterceptor
    _StreamStream = grpc.aio.StreamStreamClientInterceptor

Continuation: TypeAlias = Callable[[grpc.aio.ClientCallDetails, Any], Any]
T = TypeVar("T")


class _Pending:
    """Marks an awaitable that could not complete without waiting."""


_PENDING: Final = _Pending()
# Tasks finishing spans whose status was not yet readable; kept so they are not collected.
_FINISHING: set[asyncio.Task[None]] = set()


class _AioClientTracing:
    """What the four aio client interceptors share: span, propagation and completion."""

    def __init__(self, telemetry: RpcTelemetry) -> None:
        self._telemetry = telemetry

    async def _intercept(
        self,
        continuation: Continuation,
        details: grpc.aio.ClientCallDetails,
        argument: Any,
        request: Any,
        unary_response: bool,
    ) -> Any:
        rpc = self._telemetry.describe(details.method)
        if rpc is None:
            return await continuation(details, argument)
        active = self._telemetry.start(rpc)
        context = trace.set_span_in_context(active.span)
        active.on_request(request, details.metadata)
        metadata = grpc.aio.Metadata(*with_propagation(details.metadata, context))
        outgoing = grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )
        token = otel_context.attach(context)
        try:
            call = await continuation(outgoing, argument)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                active.end(CANCELLED, "Cancelled before the call started")
            elif isinstance(exc, grpc.aio.AioRpcError):
                active.end(code_value(exc.code()), exc.details())
            else:
                active.fail(exc, UNKNOWN)
            raise
        finally:
            otel_context.detach(token)
        if call.done():
            _end_from_call(active, call, unary_response)
        else:
            call.add_done_callback(partial(_on_done, active, unary_response))
        return call


class _UnaryUnaryTracing(_AioClientTracing, _UnaryUnary):
    async def intercept_unary_unary(
        self,
        continuation: Continuation,
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await self._intercept(continuation, client_call_details, request, request, True)


class _UnaryStreamTracing(_AioClientTracing, _UnaryStream):
    async def intercept_unary_stream(
        self,
        continuation: Continuation,
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await self._intercept(continuation, client_call_details, request, request, False)


class _StreamUnaryTracing(_AioClientTracing, _StreamUnary):
    async def intercept_stream_unary(
        self,
        continuation: Continuation,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await self._intercept(
            continuation, client_call_details, request_iterator, None, True
        )


class _StreamStreamTracing(_AioClientTracing, _StreamStream):
    async def intercept_stream_stream(
        self,
        continuation: Continuation,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await self._intercept(
            continuation, client_call_details, request_iterator, None, False
        )


def tracing_interceptors(telemetry: RpcTelemetry) -> list[grpc.aio.ClientInterceptor]:
    """One interceptor per call kind, sharing one telemetry."""
    interceptors = [
        _UnaryUnaryTracing(telemetry),
        _UnaryStreamTracing(telemetry),
        _StreamUnaryTracing(telemetry),
        _StreamStreamTracing(telemetry),
    ]
    return cast("list[grpc.aio.ClientInterceptor]", interceptors)


def _on_done(active: ActiveRpc, unary_response: bool, call: Any) -> None:
    """grpc.aio's done callback (it passes the call last)."""
    _end_from_call(active, call, unary_response)


def _now(awaitable: Awaitable[T]) -> T | _Pending:
    """The result of an awaitable that is already complete, without a task or a loop turn."""
    steps = awaitable.__await__()
    try:
        steps.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    except Exception:
        return _PENDING  # let _end_later meet the error in the ordinary way
    steps.close()
    return _PENDING


def _end_from_call(active: ActiveRpc, call: Any, unary_response: bool) -> None:
    """End the span of a finished call; its status is ready, so reading it never waits."""
    code = _now(call.code())
    if isinstance(code, _Pending):
        _end_soon(active, call, unary_response)
    elif code_value(code) != OK:
        details = _now(call.details())
        if isinstance(details, _Pending):
            _end_soon(active, call, unary_response)
        else:
            active.end(code_value(code), details)
    elif unary_response and active.wants_response:
        # The response is delivered after the status: read it on the next loop turn.
        _end_soon(active, call, unary_response)
    else:
        active.end(OK)


def _end_soon(active: ActiveRpc, call: Any, unary_response: bool) -> None:
    """End the span from a task, for what cannot be read without awaiting."""
    task = asyncio.get_running_loop().create_task(_end_later(active, call, unary_response))
    _FINISHING.add(task)
    task.add_done_callback(_FINISHING.discard)


async def _end_later(active: ActiveRpc, call: Any, unary_response: bool) -> None:
    try:
        code = code_value(await call.code())
        if code != OK:
            active.end(code, await call.details())
            return
        if unary_response and active.wants_response:
            active.on_response(await call)
        active.end(OK)
    except BaseException as exc:
        active.fail(exc, UNKNOWN)
        raise
