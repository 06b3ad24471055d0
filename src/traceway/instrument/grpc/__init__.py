"""OpenTelemetry tracing and metrics for gRPC: sync and `grpc.aio`, client and server.

Each interceptor attaches in one line::

    channel = grpc.intercept_channel(channel, client_interceptor(target=target))
    server = grpc.server(executor, interceptors=[server_interceptor()])
    channel = grpc.aio.insecure_channel(target, interceptors=aio_client_interceptors(target=target))
    server = grpc.aio.server(interceptors=[aio_server_interceptor()])

Every call gets a CLIENT or SERVER span named `package.Service/Method`, linked through the
`traceparent`/`tracestate`/`baggage` metadata of the global propagator, and one measurement
in `rpc.client.duration` / `rpc.server.duration` (ms).

A call ends, and its span with it, when grpc reports the final status: a stream when it
completes, fails or is cancelled (the call objects returned are grpc's own, so `.cancel()`
and the rest keep working). Server spans are errors only for UNKNOWN, DEADLINE_EXCEEDED,
UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS; client spans for every non-OK code.

Hooks: `request_hook(span, request, metadata)` runs once per call as it starts, for every
call kind; `request` is the request message for unary-request calls and None for
request-streaming ones (the span must not wait for a first message that may never come).
`response_hook(span, response)` runs once per successful call with a single response
message (unary-unary and stream-unary). Both run only while the span is recording; an
exception they raise is logged and the call goes on.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, TracerProvider

from traceway.instrument.grpc._aio_client import tracing_interceptors
from traceway.instrument.grpc._aio_server import AioTracingServerInterceptor
from traceway.instrument.grpc._client import TracingClientInterceptor
from traceway.instrument.grpc._common import DEFAULT_EXCLUDED_METHODS, RequestHook, ResponseHook
from traceway.instrument.grpc._server import TracingServerInterceptor
from traceway.instrument.grpc._telemetry import RpcTelemetry

__all__ = [
    "DEFAULT_EXCLUDED_METHODS",
    "RequestHook",
    "ResponseHook",
    "aio_client_interceptors",
    "aio_server_interceptor",
    "client_interceptor",
    "server_interceptor",
]


def client_interceptor(
    *,
    target: str | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    excluded_methods: Iterable[str] | None = None,
    request_hook: RequestHook | None = None,
    response_hook: ResponseHook | None = None,
) -> TracingClientInterceptor:
    """Interceptor for `grpc.intercept_channel`, all four call kinds.

    `target` is the channel's target (`host:port`, `dns:///host:port`, ...): an intercepted
    channel does not reveal it, so `server.address`/`server.port` are set only when given.
    `excluded_methods` (`pkg.Service/Method` or a whole `pkg.Service`) replace
    DEFAULT_EXCLUDED_METHODS; providers default to the global ones.
    """
    return TracingClientInterceptor(
        RpcTelemetry(
            SpanKind.CLIENT,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            excluded_methods=excluded_methods,
            request_hook=request_hook,
            response_hook=response_hook,
            target=target,
        )
    )


def server_interceptor(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    excluded_methods: Iterable[str] | None = None,
    request_hook: RequestHook | None = None,
    response_hook: ResponseHook | None = None,
) -> TracingServerInterceptor:
    """Interceptor for `grpc.server(..., interceptors=[...])`; options as `client_interceptor`."""
    return TracingServerInterceptor(
        RpcTelemetry(
            SpanKind.SERVER,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            excluded_methods=excluded_methods,
            request_hook=request_hook,
            response_hook=response_hook,
        )
    )


def aio_client_interceptors(
    *,
    target: str | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    excluded_methods: Iterable[str] | None = None,
    request_hook: RequestHook | None = None,
    response_hook: ResponseHook | None = None,
) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors for `grpc.aio.*_channel(..., interceptors=...)`, one per call kind.

    grpc.aio files an interceptor under the first call kind it implements, hence a list;
    options as `client_interceptor`.
    """
    return tracing_interceptors(
        RpcTelemetry(
            SpanKind.CLIENT,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            excluded_methods=excluded_methods,
            request_hook=request_hook,
            response_hook=response_hook,
            target=target,
        )
    )


def aio_server_interceptor(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    excluded_methods: Iterable[str] | None = None,
    request_hook: RequestHook | None = None,
    response_hook: ResponseHook | None = None,
) -> AioTracingServerInterceptor:
    """Interceptor for `grpc.aio.server(interceptors=[...])`; options as `client_interceptor`."""
    return AioTracingServerInterceptor(
        RpcTelemetry(
            SpanKind.SERVER,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            excluded_methods=excluded_methods,
            request_hook=request_hook,
            response_hook=response_hook,
        )
    )
