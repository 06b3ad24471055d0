"""Server interceptor for `grpc.server`, and the sync handler wrappers `grpc.aio` reuses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context

from traceway.instrument.grpc._common import (
    CANCELLED,
    DEADLINE_EXCEEDED,
    INTERNAL,
    OK,
    UNIMPLEMENTED,
    UNKNOWN,
    code_value,
    extract_context,
)
from traceway.instrument.grpc._telemetry import ActiveRpc, Rpc, RpcTelemetry

if TYPE_CHECKING:
    _ServerInterceptor: TypeAlias = grpc.ServerInterceptor[Any, Any]
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
else:
    _ServerInterceptor = grpc.ServerInterceptor
    Handler = grpc.RpcMethodHandler

Behavior: TypeAlias = Callable[[Any, Any], Any]
Serializer: TypeAlias = Callable[[Any], bytes]

# A cancellation this close to the deadline is the deadline passing.
_DEADLINE_SLACK_S: Final = 0.005
_MAX_CACHED_HANDLERS: Final = 4096


class TracingServerInterceptor(_ServerInterceptor):
    """A SERVER span per handled call, continuing the trace found in its metadata."""

    def __init__(self, telemetry: RpcTelemetry) -> None:
        self._telemetry = telemetry
        self._traced = TracedHandlers(telemetry, wrap_sync_handler)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            end_unimplemented(self._telemetry, handler_call_details)
            return None
        return self._traced.get(handler_call_details.method, handler)


class TracedHandlers:
    """Traced handlers by method and original handler: servers build each handler once."""

    def __init__(
        self, telemetry: RpcTelemetry, wrap: Callable[[RpcTelemetry, Rpc, Handler], Handler]
    ) -> None:
        self._telemetry = telemetry
        self._wrap = wrap
        self._handlers: dict[tuple[str, Handler], Handler] = {}

    def get(self, method: str, handler: Handler) -> Handler:
        """The traced handler, or `handler` itself for an excluded method."""
        key = (method, handler)
        try:
            return self._handlers[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable handler class: wrap it every time
            return self._traced(method, handler)
        traced = self._traced(method, handler)
        if len(self._handlers) < _MAX_CACHED_HANDLERS:
            self._handlers[key] = traced
        return traced

    def _traced(self, method: str, handler: Handler) -> Handler:
        rpc = self._telemetry.describe(method)
        return handler if rpc is None else self._wrap(self._telemetry, rpc, handler)


def end_unimplemented(telemetry: RpcTelemetry, details: grpc.HandlerCallDetails) -> None:
    """Record a call to a method no handler serves: gRPC answers UNIMPLEMENTED."""
    rpc = telemetry.describe_unknown(details.method)
    if rpc is not None:
        parent = extract_context(details.invocation_metadata)
        telemetry.start(rpc, parent).end(UNIMPLEMENTED, "Method not found!")


def handler_parts(handler: Handler) -> tuple[Behavior, Callable[..., Handler]]:
    """The handler's behavior and the grpc factory that builds a handler of its kind."""
    behavior: Any
    if handler.request_streaming and handler.response_streaming:
        behavior, factory = handler.stream_stream, grpc.stream_stream_rpc_method_handler
    elif handler.request_streaming:
        behavior, factory = handler.stream_unary, grpc.stream_unary_rpc_method_handler
    elif handler.response_streaming:
        behavior, factory = handler.unary_stream, grpc.unary_stream_rpc_method_handler
    else:
        behavior, factory = handler.unary_unary, grpc.unary_unary_rpc_method_handler
    return behavior, factory


def wrap_sync_handler(
    telemetry: RpcTelemetry, rpc: Rpc, handler: Handler, *, under_aio: bool = False
) -> Handler:
    """The same handler with its (sync) behavior traced."""
    behavior, factory = handler_parts(handler)
    if getattr(behavior, "experimental_non_blocking", False):
        return handler
    traced = trace_sync_behavior(
        telemetry,
        rpc,
        behavior,
        handler.request_streaming,
        handler.response_streaming,
        handler.response_serializer,
        under_aio,
    )
    pool = getattr(behavior, "experimental_thread_pool", None)
    if pool is not None:
        setattr(traced, "experimental_thread_pool", pool)  # noqa: B010
    return factory(
        traced,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def trace_sync_behavior(
    telemetry: RpcTelemetry,
    rpc: Rpc,
    behavior: Behavior,
    request_streaming: bool,
    response_streaming: bool,
    serializer: Serializer | None,
    under_aio: bool,
) -> Behavior:
    """Wrap a sync behavior: unary responses end the span on return, streams when exhausted."""

    def traced(argument: Any, context: Any) -> Any:
        if under_aio:
            context = _StatusRecordingContext(context)
        active, span_context = begin(
            telemetry, rpc, context, None if request_streaming else argument
        )
        token = otel_context.attach(span_context)
        try:
            result = behavior(argument, context)
            if response_streaming:
                result = iter(result)
        except BaseException as exc:
            end_failed(active, context, exc)
            raise
        finally:
            otel_context.detach(token)
        if response_streaming:
            return _respond(active, context, result, span_context)
        code, details = returned_status(context)
        end_unary(active, code, details, result, serializer, under_aio=under_aio)
        return result

    return traced


class _StatusRecordingContext:
    """The context grpc.aio gives a sync handler, which has no ``code()``/``details()``
    to read back what the handler set: this one remembers it."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self._code: Any = None
        self._details: str | None = None
        self._aborted = False

    def set_code(self, code: Any) -> None:
        self._context.set_code(code)
        self._code = code

    def set_details(self, details: str) -> None:
        self._context.set_details(details)
        self._details = details

    def abort(self, code: Any, details: str = "", *args: Any, **kwargs: Any) -> Any:
        if not self._aborted:  # grpc answers the first abort; a second one raises
            self._aborted = True
            self._code = code
            self._details = details or self._details
        return self._context.abort(code, details, *args, **kwargs)

    def code(self) -> Any:
        return self._code

    def details(self) -> str | None:
        return self._details

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _respond(
    active: ActiveRpc, context: Any, responses: Iterator[Any], span_context: Context
) -> Iterator[Any]:
    """Relay a handler's responses with its span current; end the span with the stream."""
    try:
        while True:
            token = otel_context.attach(span_context)
            try:
                response = next(responses)
            except StopIteration:
                break
            finally:
                otel_context.detach(token)
            yield response
    except GeneratorExit:
        # grpc stopped pulling responses: the client went away.
        active.end(termination_code(context) or CANCELLED)
        close = getattr(responses, "close", None)
        if close is not None:
            close()
        raise
    except BaseException as exc:
        end_failed(active, context, exc)
        raise
    end_returned(active, context)


def begin(
    telemetry: RpcTelemetry, rpc: Rpc, context: Any, request: Any
) -> tuple[ActiveRpc, Context]:
    """Start the server span as a child of the caller's context and run the request hook."""
    metadata = context.invocation_metadata()
    parent = extract_context(metadata)
    active = telemetry.start(rpc, parent)
    if active.recording:
        active.set_peer(context.peer())
        active.on_request(request, metadata)
    return active, trace.set_span_in_context(active.span, parent)


def termination_code(context: Any) -> int | None:
    """CANCELLED or DEADLINE_EXCEEDED when the client is gone; None while it still waits."""
    is_active = getattr(context, "is_active", None)
    if is_active is None or is_active():
        return None
    return cancellation_code(context)


def cancellation_code(context: Any) -> int:
    """Why a call was cut short: its deadline passed, or the client cancelled."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= _DEADLINE_SLACK_S:
        return DEADLINE_EXCEEDED
    return CANCELLED


def _code_and_details(context: Any) -> tuple[int | None, str | None]:
    code_of = getattr(context, "code", None)
    if code_of is None:
        return None, None
    code = code_of()
    if code is None:
        return None, None
    details = context.details()
    if isinstance(details, bytes):
        details = details.decode("utf-8", "replace")
    return code_value(code), details


def returned_status(context: Any) -> tuple[int, str | None]:
    """The status of a call whose behavior returned: the code it set, or why the client
    left."""
    gone = termination_code(context)
    if gone is not None:
        return gone, None
    code, details = _code_and_details(context)
    return OK if code is None else code, details


def end_returned(active: ActiveRpc, context: Any) -> None:
    """End the span of a behavior that returned."""
    active.end(*returned_status(context))


def end_unary(
    active: ActiveRpc,
    code: int,
    details: str | None,
    response: Any,
    serializer: Serializer | None,
    *,
    under_aio: bool,
) -> None:
    """End the span of a unary call whose handler returned ``response``, with status
    ``code``; the response hook runs only for a call that succeeds."""
    if code == OK and response is None:
        refused = _refused_none(serializer, under_aio)
        if refused is not None:
            code, details, exc = refused
            if exc is not None:
                active.fail(exc, code)
                return
    if code == OK:
        active.on_response(response)
    active.end(code, details)


_UNSERIALIZABLE: Final = "Failed to serialize response!"


def _refused_none(
    serializer: Serializer | None, under_aio: bool
) -> tuple[int, str, Exception | None] | None:
    """How grpc fails an OK unary call whose handler returned None, or None if it does not.

    grpc serializes a unary response after the handler returned, so after its span
    ended. A handler that forgets to return its message is the usual way a response
    cannot be sent; for a None that is cheap to foresee (the serializer is tried on it),
    and the response still goes to grpc unchanged: grpc.server answers INTERNAL,
    grpc.aio UNKNOWN for a serializer that raises, and an empty message where there is
    no serializer.
    """
    if serializer is None:
        return None if under_aio else (INTERNAL, _UNSERIALIZABLE, None)
    try:
        serialized = serializer(None)
    except Exception as exc:
        return (UNKNOWN if under_aio else INTERNAL), f"{type(exc).__name__}: {exc}", exc
    if serialized is None and not under_aio:
        return INTERNAL, _UNSERIALIZABLE, None
    return None


def end_failed(active: ActiveRpc, context: Any, exc: BaseException) -> None:
    """End the span of a behavior that raised, with the status grpc will send."""
    code, details = _code_and_details(context)
    aborted = (type(exc) is Exception and not exc.args) or isinstance(exc, grpc.aio.AbortError)
    if code is not None and code != OK and aborted:
        # context.abort(): grpc raised a bare Exception (grpc.aio an AbortError) after
        # recording code and details.
        active.end(code, details)
        return
    if isinstance(exc, grpc.RpcError):
        gone = termination_code(context)
        if gone is not None:
            # Raised by grpc itself because the client went away (e.g. reading requests).
            active.end(gone)
            return
    active.fail(exc, UNKNOWN if code is None else code)
