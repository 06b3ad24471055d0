"""Server interceptor for `grpc.aio.server`: coroutine, async-generator and sync handlers."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from opentelemetry import context as otel_context

from traceway.instrument.grpc._common import OK, UNKNOWN, code_value
from traceway.instrument.grpc._server import (
    Behavior,
    Handler,
    TracedHandlers,
    begin,
    cancellation_code,
    end_unary,
    end_unimplemented,
    handler_parts,
    wrap_sync_handler,
)
from traceway.instrument.grpc._telemetry import ActiveRpc, Rpc, RpcTelemetry

if TYPE_CHECKING:
    _AioServerInterceptor: TypeAlias = grpc.aio.ServerInterceptor[Any, Any]
else:
    _AioServerInterceptor = grpc.aio.ServerInterceptor


class AioTracingServerInterceptor(_AioServerInterceptor):
    """A SERVER span per handled call, continuing the trace found in its metadata."""

    def __init__(self, telemetry: RpcTelemetry) -> None:
        self._telemetry = telemetry
        self._traced = TracedHandlers(telemetry, _wrap_handler)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        if handler is None:
            end_unimplemented(self._telemetry, handler_call_details)
            return handler
        return self._traced.get(handler_call_details.method, handler)


def _wrap_handler(telemetry: RpcTelemetry, rpc: Rpc, handler: Handler) -> Handler:
    """The same handler traced, its behavior still of the kind grpc.aio tests it for."""
    behavior, factory = handler_parts(handler)
    traced: Callable[[Any, Any], Any]
    if handler.response_streaming:
        if inspect.iscoroutinefunction(behavior):
            traced = _trace_coroutine(telemetry, rpc, behavior, handler)
        elif inspect.isasyncgenfunction(behavior):
            traced = _trace_async_generator(telemetry, rpc, behavior, handler)
        else:
            return wrap_sync_handler(telemetry, rpc, handler, under_aio=True)
    elif _is_async(behavior):
        traced = _trace_coroutine(telemetry, rpc, behavior, handler)
    else:
        return wrap_sync_handler(telemetry, rpc, handler, under_aio=True)
    return factory(
        traced,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _is_async(behavior: Behavior) -> bool:
    """The test grpc.aio applies to decide whether to await a unary-response handler."""
    return (
        inspect.isawaitable(behavior)
        or inspect.iscoroutinefunction(behavior)
        or inspect.isasyncgenfunction(behavior)
    )


class _TracedServicerContext:
    """The servicer context, remembering the code of `abort` (grpc.aio keeps it out of reach)."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self.aborted_with: tuple[int, str] | None = None

    async def abort(
        self, code: grpc.StatusCode, details: str = "", *args: Any, **kwargs: Any
    ) -> Any:
        self.aborted_with = (code_value(code), details)
        return await self._context.abort(code, details, *args, **kwargs)

    async def abort_with_status(self, status: Any) -> Any:
        self.aborted_with = (code_value(status.code), status.details)
        return await self._context.abort_with_status(status)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _trace_coroutine(
    telemetry: RpcTelemetry,
    rpc: Rpc,
    behavior: Behavior,
    handler: Handler,
) -> Callable[[Any, Any], Awaitable[Any]]:
    """Wrap a coroutine behavior: a unary response, or a stream written with context.write."""
    request_streaming = handler.request_streaming
    response_streaming = handler.response_streaming

    async def traced(argument: Any, context: Any) -> Any:
        active, span_context = begin(
            telemetry, rpc, context, None if request_streaming else argument
        )
        traced_context = _TracedServicerContext(context)
        token = otel_context.attach(span_context)
        try:
            result = await behavior(argument, traced_context)
        except BaseException as exc:
            _end_failed(active, traced_context, exc)
            raise
        finally:
            otel_context.detach(token)
        code, details = _returned_status(context)
        if response_streaming:
            active.end(code, details)
        else:
            end_unary(active, code, details, result, handler.response_serializer, under_aio=True)
        return result

    return traced


def _trace_async_generator(
    telemetry: RpcTelemetry,
    rpc: Rpc,
    behavior: Behavior,
    handler: Handler,
) -> Callable[[Any, Any], AsyncIterator[Any]]:
    """Wrap an async-generator behavior; the span ends with the stream."""
    request_streaming = handler.request_streaming

    async def traced(argument: Any, context: Any) -> AsyncIterator[Any]:
        active, span_context = begin(
            telemetry, rpc, context, None if request_streaming else argument
        )
        traced_context = _TracedServicerContext(context)
        responses = behavior(argument, traced_context).__aiter__()
        try:
            while True:
                token = otel_context.attach(span_context)
                try:
                    response = await responses.__anext__()
                except StopAsyncIteration:
                    break
                finally:
                    otel_context.detach(token)
                yield response
        except GeneratorExit:
            # Closed while suspended: grpc stopped writing because the client went away.
            active.end(cancellation_code(context))
            aclose = getattr(responses, "aclose", None)
            if aclose is not None:
                await aclose()
            raise
        except BaseException as exc:
            _end_failed(active, traced_context, exc)
            raise
        active.end(*_returned_status(context))

    return traced


def _returned_status(context: Any) -> tuple[int, str | None]:
    code = code_value(context.code())
    return code, context.details() if code != OK else None


def _end_failed(active: ActiveRpc, context: _TracedServicerContext, exc: BaseException) -> None:
    if isinstance(exc, grpc.aio.AbortError) and context.aborted_with is not None:
        code, details = context.aborted_with
        active.end(code, details)
    elif isinstance(exc, asyncio.CancelledError):
        active.end(cancellation_code(context))
    else:
        # grpc.aio answers an exception with the code set on the context, else UNKNOWN.
        code = code_value(context.code())
        active.fail(exc, code if code != OK else UNKNOWN)
