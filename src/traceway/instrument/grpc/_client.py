"""Client interceptor for sync channels (`grpc.intercept_channel`), all four call kinds."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace

from traceway.instrument.grpc._common import (
    CANCELLED,
    INTERNAL,
    OK,
    UNKNOWN,
    MetadataLike,
    code_value,
    with_propagation,
)
from traceway.instrument.grpc._telemetry import ActiveRpc, RpcTelemetry

if TYPE_CHECKING:
    _UnaryUnary: TypeAlias = grpc.UnaryUnaryClientInterceptor[Any, Any]
    _UnaryStream: TypeAlias = grpc.UnaryStreamClientInterceptor[Any, Any]
    _StreamUnary: TypeAlias = grpc.StreamUnaryClientInterceptor[Any, Any]
    _StreamStream: TypeAlias = grpc.StreamStreamClientInterceptor[Any, Any]
else:
    _UnaryUnary = grpc.UnaryUnaryClientInterceptor
    _UnaryStream = grpc.UnaryStreamClientInterceptor
    _StreamUnary = grpc.StreamUnaryClientInterceptor
    _StreamStream = grpc.StreamStreamClientInterceptor

Continuation: TypeAlias = Callable[[grpc.ClientCallDetails, Any], Any]


class _ClientCallDetails(grpc.ClientCallDetails):
    """The call's details with the trace context added to its metadata."""

    __slots__ = ("compression", "credentials", "metadata", "method", "timeout", "wait_for_ready")

    def __init__(self, details: grpc.ClientCallDetails, metadata: Any) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class TracingClientInterceptor(_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream):
    """A CLIENT span per call, its context sent in the call's metadata."""

    def __init__(self, telemetry: RpcTelemetry) -> None:
        self._telemetry = telemetry

    def intercept_unary_unary(
        self, continuation: Continuation, client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return self._intercept(continuation, client_call_details, request, request, True)

    def intercept_unary_stream(
        self, continuation: Continuation, client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return self._intercept(continuation, client_call_details, request, request, False)

    def intercept_stream_unary(
        self,
        continuation: Continuation,
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return self._intercept(continuation, client_call_details, request_iterator, None, True)

    def intercept_stream_stream(
        self,
        continuation: Continuation,
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return self._intercept(continuation, client_call_details, request_iterator, None, False)

    def _intercept(
        self,
        continuation: Continuation,
        details: grpc.ClientCallDetails,
        argument: Any,
        request: Any,
        unary_response: bool,
    ) -> Any:
        rpc = self._telemetry.describe(details.method)
        if rpc is None:
            return continuation(details, argument)
        active = self._telemetry.start(rpc)
        context = trace.set_span_in_context(active.span)
        metadata: MetadataLike = details.metadata
        active.on_request(request, metadata)
        outgoing = _ClientCallDetails(details, tuple(with_propagation(metadata, context)))
        token = otel_context.attach(context)
        try:
            call = continuation(outgoing, argument)
        except BaseException as exc:
            code = code_value(exc.code()) if isinstance(exc, grpc.Call) else UNKNOWN
            active.fail(exc, code)
            raise
        finally:
            otel_context.detach(token)
        return _watch(active, call, unary_response)


def _watch(active: ActiveRpc, call: Any, unary_response: bool) -> Any:
    """End the span when the call ends, leaving the call object itself untouched."""
    if isinstance(call, grpc.Future) and isinstance(call, grpc.Call):
        if call.done():
            _end_from_call(active, call, unary_response)
            return call
        # A nullary callback holding only a weak reference: a call the application drops
        # is still cancelled by its own __del__, exactly as without the interceptor.
        on_end = partial(_end_when_terminated, active, weakref.ref(call), unary_response)
        if not call.add_callback(on_end):
            _end_from_call(active, call, unary_response)
        return call
    if not unary_response and isinstance(call, Iterator):
        # Another interceptor replaced the call by a plain iterator: follow it instead.
        return _follow(active, call)
    active.end(OK)
    return call


def _end_when_terminated(active: ActiveRpc, ref: weakref.ref[Any], unary_response: bool) -> None:
    """grpc's termination callback: the call, unless the application dropped it."""
    call = ref()
    if call is None:
        active.end(CANCELLED, "Cancelled upon garbage collection!")
    else:
        _end_from_call(active, call, unary_response)


def _end_from_call(active: ActiveRpc, call: Any, unary_response: bool) -> None:
    """End the span with the status of a terminated call."""
    code = code_value(call.code())
    if code == OK:
        if unary_response and active.wants_response:
            active.on_response(call.result())
        active.end(OK)
        return
    active.end(code, call.details(), _local_failure(call, code))


def _local_failure(call: Any, code: int) -> BaseException | None:
    """The exception of a call that failed in this process (not a status from the server)."""
    if code != INTERNAL:
        return None
    try:
        exception: BaseException | None = call.exception()
    except Exception:
        return None
    return None if isinstance(exception, grpc.RpcError) else exception


def _follow(active: ActiveRpc, responses: Iterator[Any]) -> Iterator[Any]:
    """Relay responses from an iterator that is not a grpc call; end the span with it."""
    try:
        yield from responses
    except GeneratorExit:
        active.end(CANCELLED, "Response iterator closed")
        raise
    except BaseException as exc:
        if isinstance(exc, grpc.Call):
            active.end(code_value(exc.code()), exc.details())
        else:
            active.fail(exc, UNKNOWN)
        raise
    active.end(OK)
