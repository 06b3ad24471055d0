"""W3C trace context and baggage across calls, a service chain, and other interceptors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from tests.instrument.grpc.grpc_echo import (
    KINDS,
    UNARY,
    Observed,
    call_sync,
)
from tests.instrument.grpc.grpc_telemetry import Telemetry, one
from traceway.instrument.grpc import client_interceptor, server_interceptor

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def traced_server(telemetry: Telemetry, start_sync_server: Any, open_sync_channel: Any) -> Any:
    """A plain (untraced) channel to a traced server."""
    port = start_sync_server([server_interceptor(**telemetry.providers)])
    return open_sync_channel(port)


def test_valid_traceparent_is_continued(telemetry: Telemetry, traced_server: Any) -> None:
    traced_server.unary_unary(UNARY)(b"ok", metadata=(("traceparent", TRACEPARENT),))

    server = one(telemetry.wait_for_spans(1), SpanKind.SERVER)
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None and server.parent.is_remote
    assert format(server.parent.span_id, "016x") == PARENT_ID


@pytest.mark.parametrize(
    "traceparent",
    ["garbage", f"00-{'0' * 32}-{PARENT_ID}-01", f"00-{TRACE_ID}-{'0' * 16}-01", "00-xyz-abc-01"],
)
def test_invalid_traceparent_starts_a_new_trace(
    traceparent: str, telemetry: Telemetry, traced_server: Any
) -> None:
    traced_server.unary_unary(UNARY)(b"ok", metadata=(("traceparent", traceparent),))

    server = one(telemetry.wait_for_spans(1), SpanKind.SERVER)
    assert server.parent is None
    assert server.context.is_valid
    assert format(server.context.trace_id, "032x") != TRACE_ID


def test_tracestate_and_baggage_reach_the_handler(
    telemetry: Telemetry, observed: Observed, traced_server: Any
) -> None:
    metadata = (
        ("traceparent", TRACEPARENT),
        ("tracestate", "vendor=abc,other=1"),
        ("baggage", "user=alice,tier=gold"),
    )

    traced_server.unary_unary(UNARY)(b"ok", metadata=metadata)

    server = one(telemetry.wait_for_spans(1), SpanKind.SERVER)
    assert dict(server.context.trace_state) == {"vendor": "abc", "other": "1"}
    assert observed.last().baggage == {"user": "alice", "tier": "gold"}


def test_stale_traceparent_from_the_application_is_replaced(
    telemetry: Telemetry, observed: Observed, start_sync_server: Any, open_sync_channel: Any
) -> None:
    port = start_sync_server([server_interceptor(**telemetry.providers)])
    channel = open_sync_channel(port, client_interceptor(**telemetry.providers))

    channel.unary_unary(UNARY)(b"ok", metadata=(("traceparent", TRACEPARENT),))

    spans = telemetry.wait_for_spans(2)
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    assert [k for k, _ in observed.last().metadata].count("traceparent") == 1


def test_client_span_is_a_child_of_the_current_span_and_sends_its_baggage(
    telemetry: Telemetry, observed: Observed, start_sync_server: Any, open_sync_channel: Any
) -> None:
    from opentelemetry import baggage, context

    port = start_sync_server([server_interceptor(**telemetry.providers)])
    channel = open_sync_channel(port, client_interceptor(**telemetry.providers))
    tracer = telemetry.tracer_provider.get_tracer("test")

    token = context.attach(baggage.set_baggage("user", "bob"))
    try:
        with tracer.start_as_current_span("checkout") as checkout:
            channel.unary_unary(UNARY)(b"ok")
    finally:
        context.detach(token)

    spans = telemetry.wait_for_spans(3)
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    assert client.parent is not None
    assert client.parent.span_id == checkout.get_span_context().span_id
    assert server.context.trace_id == checkout.get_span_context().trace_id
    assert observed.last().baggage == {"user": "bob"}


def test_chain_of_services_is_one_trace(
    telemetry: Telemetry,
    observed: Observed,
    start_sync_server: Any,
    open_sync_channel: Any,
) -> None:
    """client -> A (server + its own client interceptor) -> B."""
    port_b = start_sync_server([server_interceptor(**telemetry.providers)])
    to_b = open_sync_channel(port_b, client_interceptor(**telemetry.providers))

    def relay(request: bytes, context: grpc.ServicerContext) -> bytes:
        return b"A>" + to_b.unary_unary(UNARY)(request)

    front = grpc.method_handlers_generic_handler(
        "traceway.test.Front", {"Relay": grpc.unary_unary_rpc_method_handler(relay)}
    )
    port_a = start_sync_server([server_interceptor(**telemetry.providers)], handlers=[front])
    to_a = open_sync_channel(port_a, client_interceptor(**telemetry.providers))
    metadata = (("tracestate", "vendor=abc"),)

    assert to_a.unary_unary("/traceway.test.Front/Relay")(b"ok", metadata=metadata) == b"A>ok"

    spans = telemetry.wait_for_spans(4)
    client = one(spans, SpanKind.CLIENT, "traceway.test.Front/Relay")
    a_server = one(spans, SpanKind.SERVER, "traceway.test.Front/Relay")
    a_client = one(spans, SpanKind.CLIENT, UNARY[1:])
    b_server = one(spans, SpanKind.SERVER, UNARY[1:])
    assert {s.context.trace_id for s in spans} == {client.context.trace_id}
    assert client.parent is None
    assert a_server.parent is not None and a_server.parent.span_id == client.context.span_id
    assert a_client.parent is not None and a_client.parent.span_id == a_server.context.span_id
    assert b_server.parent is not None and b_server.parent.span_id == a_client.context.span_id


# --- beside the application's own interceptors ----------------------------------------


class AppClientInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `x-app` metadata, notes the current span, and wraps streamed responses."""

    def __init__(self) -> None:
        self.seen_spans: list[trace.Span] = []

    def _go(self, continuation: Callable[..., Any], details: Any, argument: Any) -> Any:
        self.seen_spans.append(trace.get_current_span())
        metadata = [*(details.metadata or ()), ("x-app", "1")]
        new_details = _Details(details.method, details.timeout, metadata, details.credentials)
        return continuation(new_details, argument)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return self._go(continuation, details, request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return self._go(continuation, details, requests)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        # Like some instrumentations do: hand back a generator instead of the call.
        return _relay(self._go(continuation, details, request))

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return _relay(self._go(continuation, details, requests))


def _relay(responses: Iterator[Any]) -> Iterator[Any]:
    yield from responses


class _Details(grpc.ClientCallDetails):
    def __init__(self, method: str, timeout: Any, metadata: Any, credentials: Any) -> None:
        self.method, self.timeout, self.metadata, self.credentials = (
            method,
            timeout,
            metadata,
            credentials,
        )
        self.wait_for_ready = None
        self.compression = None


class AppServerInterceptor(grpc.ServerInterceptor):
    """Notes each method and wraps unary-unary behaviors, as logging interceptors do."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        self.methods.append(handler_call_details.method)
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.response_streaming:
            return handler
        behavior = handler.unary_unary

        def logged(request: Any, context: Any) -> Any:
            return behavior(request, context)

        return grpc.unary_unary_rpc_method_handler(
            logged, handler.request_deserializer, handler.response_serializer
        )


@pytest.mark.parametrize("ours_first", [True, False], ids=["ours-first", "app-first"])
@pytest.mark.parametrize("kind", KINDS)
def test_beside_application_interceptors_in_either_order(
    kind: str,
    ours_first: bool,
    telemetry: Telemetry,
    observed: Observed,
    start_sync_server: Any,
    open_sync_channel: Any,
) -> None:
    app_client, app_server = AppClientInterceptor(), AppServerInterceptor()
    ours_client = client_interceptor(**telemetry.providers)
    ours_server = server_interceptor(**telemetry.providers)
    server_chain = [ours_server, app_server] if ours_first else [app_server, ours_server]
    client_chain = [ours_client, app_client] if ours_first else [app_client, ours_client]
    channel = open_sync_channel(start_sync_server(server_chain), *client_chain)

    call_sync(channel, kind, metadata=(("x-user", "u"),))

    spans = telemetry.wait_for_spans(2)
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    assert client.attributes["rpc.grpc.status_code"] == 0
    assert server.attributes["rpc.grpc.status_code"] == 0
    received = dict(observed.last().metadata)
    assert received["x-app"] == "1"
    assert received["x-user"] == "u"
    assert observed.last().span_context.span_id == server.context.span_id
    assert len(app_server.methods) == 1
    [seen] = app_client.seen_spans
    if ours_first:
        assert seen.get_span_context().span_id == client.context.span_id
