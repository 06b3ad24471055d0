"""Sync client and server interceptors against a real grpc.server on 127.0.0.1."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from tests.instrument.grpc.grpc_echo import (
    BIDI,
    HEALTH_CHECK,
    KINDS,
    METHOD_OF_KIND,
    SERVER_STREAM,
    SERVICE,
    STREAM_REPLIES,
    STRICT_UNARY,
    UNARY,
    Observed,
    call_sync,
    strict_sync_handlers,
)
from tests.instrument.grpc.grpc_telemetry import Telemetry, one
from traceway.instrument.grpc import client_interceptor, server_interceptor

NON_OK = [code for code in grpc.StatusCode if code is not grpc.StatusCode.OK]
SERVER_ERRORS = {
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
}
EXPECTED = {
    "unary_unary": b"ok",
    "unary_stream": [b"ok"] * STREAM_REPLIES,
    "stream_unary": b"ok!",
    "stream_stream": [b"ok"] * STREAM_REPLIES,
}


@pytest.fixture
def traced_channel(
    telemetry: Telemetry, start_sync_server: Callable[..., int], open_sync_channel: Any
) -> Callable[..., grpc.Channel]:
    """A traced client channel to a traced server: `traced_channel(**client_options)`."""

    def make(**client_options: Any) -> grpc.Channel:
        port = start_sync_server([server_interceptor(**telemetry.providers)])
        interceptor = client_interceptor(
            target=f"127.0.0.1:{port}", **telemetry.providers, **client_options
        )
        return open_sync_channel(port, interceptor)

    return make


@pytest.mark.parametrize("kind", KINDS)
def test_each_call_kind_gets_a_client_span_and_a_child_server_span(
    kind: str, telemetry: Telemetry, observed: Observed, traced_channel: Any
) -> None:
    channel = traced_channel()

    assert call_sync(channel, kind) == EXPECTED[kind]

    spans = telemetry.wait_for_spans(2)
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    name = METHOD_OF_KIND[kind][1:]
    assert client.name == server.name == name
    assert client.parent is None
    assert server.parent is not None and server.parent.is_remote
    assert server.parent.span_id == client.context.span_id
    assert server.context.trace_id == client.context.trace_id
    for span in (client, server):
        assert span.attributes is not None
        assert span.attributes["rpc.system"] == "grpc"
        assert span.attributes["rpc.service"] == SERVICE
        assert span.attributes["rpc.method"] == name.rpartition("/")[2]
        assert span.attributes["rpc.grpc.status_code"] == 0
        assert span.status.status_code is StatusCode.UNSET
    assert client.attributes["server.address"] == "127.0.0.1"
    assert isinstance(client.attributes["server.port"], int)
    assert server.attributes["network.peer.address"] == "127.0.0.1"
    assert isinstance(server.attributes["network.peer.port"], int)
    # The handler ran with the server span as its current span.
    assert observed.last().span_context.span_id == server.context.span_id


@pytest.mark.parametrize("code", NON_OK, ids=lambda code: code.name)
def test_abort_gives_its_code_and_details_to_both_spans(
    code: grpc.StatusCode, telemetry: Telemetry, traced_channel: Any
) -> None:
    channel = traced_channel()

    with pytest.raises(grpc.RpcError) as raised:
        call_sync(channel, "unary_unary", f"abort:{code.name}".encode())

    assert raised.value.code() is code
    spans = telemetry.wait_for_spans(2)
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    assert client.attributes["rpc.grpc.status_code"] == code.value[0]
    assert server.attributes["rpc.grpc.status_code"] == code.value[0]
    assert client.status.status_code is StatusCode.ERROR
    assert client.status.description == f"aborted with {code.name}"
    if code in SERVER_ERRORS:
        assert server.status.status_code is StatusCode.ERROR
        assert server.status.description == f"aborted with {code.name}"
    else:
        assert server.status.status_code is StatusCode.UNSET
    assert not server.events, "an abort is a status, not an exception"


@pytest.mark.parametrize("kind", KINDS)
def test_abort_in_any_call_kind(kind: str, telemetry: Telemetry, traced_channel: Any) -> None:
    channel = traced_channel()

    with pytest.raises(grpc.RpcError) as raised:
        call_sync(channel, kind, b"abort:INTERNAL")

    assert raised.value.code() is grpc.StatusCode.INTERNAL
    spans = telemetry.wait_for_spans(2)
    for span in spans:
        assert span.attributes["rpc.grpc.status_code"] == 13
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "aborted with INTERNAL"


@pytest.mark.parametrize("kind", KINDS)
def test_exception_in_handler_is_recorded_on_the_server_span(
    kind: str, telemetry: Telemetry, traced_channel: Any
) -> None:
    channel = traced_channel()

    with pytest.raises(grpc.RpcError) as raised:
        call_sync(channel, kind, b"raise")

    assert raised.value.code() is grpc.StatusCode.UNKNOWN
    spans = telemetry.wait_for_spans(2)
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    assert server.attributes["rpc.grpc.status_code"] == 2
    assert server.status.status_code is StatusCode.ERROR
    assert server.status.description == "ValueError: boom"
    [event] = server.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "boom"
    assert client.attributes["rpc.grpc.status_code"] == 2
    assert client.status.status_code is StatusCode.ERROR


def test_code_set_without_abort(telemetry: Telemetry, traced_channel: Any) -> None:
    channel = traced_channel()

    with pytest.raises(grpc.RpcError) as raised:
        call_sync(channel, "unary_unary", b"set_code:NOT_FOUND")

    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    spans = telemetry.wait_for_spans(2)
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    assert server.attributes["rpc.grpc.status_code"] == 5
    assert server.status.status_code is StatusCode.UNSET
    assert client.status.status_code is StatusCode.ERROR
    assert client.status.description == "set to NOT_FOUND"


@pytest.mark.parametrize("kind", KINDS)
def test_deadline_exceeded_on_both_sides(
    kind: str, telemetry: Telemetry, traced_channel: Any
) -> None:
    channel = traced_channel()

    with pytest.raises(grpc.RpcError) as raised:
        call_sync(channel, kind, b"wait", timeout=0.3)

    assert raised.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    spans = telemetry.wait_for_spans(2)
    for span in spans:
        assert span.attributes["rpc.grpc.status_code"] == 4, span.kind
        assert span.status.status_code is StatusCode.ERROR


@pytest.mark.parametrize("method", [SERVER_STREAM, BIDI])
def test_client_cancels_mid_stream(method: str, telemetry: Telemetry, traced_channel: Any) -> None:
    channel = traced_channel()
    if method == SERVER_STREAM:
        call = channel.unary_stream(method)(b"forever")
    else:
        call = channel.stream_stream(method)(iter([b"forever"]))

    assert next(call) == b"tick"
    assert next(call) == b"tick"
    assert call.cancel()
    with pytest.raises(grpc.RpcError) as raised:
        next(call)

    assert raised.value.code() is grpc.StatusCode.CANCELLED
    assert call.code() is grpc.StatusCode.CANCELLED
    spans = telemetry.wait_for_spans(2)
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    assert client.attributes["rpc.grpc.status_code"] == 1
    assert client.status.status_code is StatusCode.ERROR
    assert server.attributes["rpc.grpc.status_code"] == 1
    assert server.status.status_code is StatusCode.UNSET


def test_dropped_stream_is_still_cancelled_and_its_span_ended(
    telemetry: Telemetry, traced_channel: Any
) -> None:
    channel = traced_channel()
    call = channel.unary_stream(SERVER_STREAM)(b"forever")
    assert next(call) == b"tick"

    del call
    gc.collect()

    spans = telemetry.wait_for_spans(2)
    for span in spans:
        assert span.attributes["rpc.grpc.status_code"] == 1, span.kind


def test_stream_call_keeps_the_grpc_call_interface(
    telemetry: Telemetry, traced_channel: Any, start_sync_server: Any, open_sync_channel: Any
) -> None:
    channel = traced_channel()
    plain = open_sync_channel(start_sync_server())

    call = channel.unary_stream(SERVER_STREAM)(b"ok", timeout=30)

    assert type(call) is type(plain.unary_stream(SERVER_STREAM)(b"ok"))
    assert isinstance(call, grpc.Call) and isinstance(call, grpc.Future)
    assert call.initial_metadata() == ()
    assert 0 < call.time_remaining() <= 30
    assert list(call) == [b"ok"] * STREAM_REPLIES
    assert call.code() is grpc.StatusCode.OK
    assert call.details() == ""
    assert call.trailing_metadata() == ()
    assert not call.is_active()
    assert not call.cancel()
    telemetry.wait_for_spans(2)


def test_future_and_with_call(telemetry: Telemetry, traced_channel: Any) -> None:
    channel = traced_channel()
    unary = channel.unary_unary(UNARY)

    future = unary.future(b"ok")
    assert future.result(timeout=10) == b"ok"
    response, call = unary.with_call(b"ok")

    assert response == b"ok"
    assert call.code() is grpc.StatusCode.OK
    spans = telemetry.wait_for_spans(4)
    assert [s.attributes["rpc.grpc.status_code"] for s in spans] == [0, 0, 0, 0]


def test_repeated_metadata_keys_arrive_at_the_server(
    telemetry: Telemetry, observed: Observed, traced_channel: Any
) -> None:
    channel = traced_channel()
    metadata = (("x-rep", "a"), ("x-one", "1"), ("x-rep", "b"), ("x-bin", b"\x00\x01"))

    channel.unary_unary(UNARY)(b"ok", metadata=metadata)

    received = observed.last().metadata
    assert [v for k, v in received if k == "x-rep"] == ["a", "b"]
    assert ("x-one", "1") in received
    assert [k for k, _ in received].count("traceparent") == 1


def test_unknown_method_is_unimplemented_on_both_sides(
    telemetry: Telemetry, traced_channel: Any
) -> None:
    channel = traced_channel()

    with pytest.raises(grpc.RpcError) as raised:
        channel.unary_unary(f"/{SERVICE}/Missing")(b"ok")

    assert raised.value.code() is grpc.StatusCode.UNIMPLEMENTED
    spans = telemetry.wait_for_spans(2)
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    assert server.name == f"{SERVICE}/Missing"
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    for span in spans:
        assert span.attributes["rpc.grpc.status_code"] == 12
        assert span.status.status_code is StatusCode.ERROR


def test_health_checks_are_not_traced_by_default(telemetry: Telemetry, traced_channel: Any) -> None:
    channel = traced_channel()

    assert channel.unary_unary(HEALTH_CHECK)(b"") == b"SERVING"

    assert telemetry.spans() == ()


@pytest.mark.parametrize("excluded", [f"{SERVICE}/Unary", f"/{SERVICE}/Unary", SERVICE])
def test_excluded_methods(
    excluded: str, telemetry: Telemetry, start_sync_server: Any, open_sync_channel: Any
) -> None:
    options = {**telemetry.providers, "excluded_methods": [excluded]}
    port = start_sync_server([server_interceptor(**options)])
    channel = open_sync_channel(port, client_interceptor(**options))

    call_sync(channel, "unary_unary")
    call_sync(channel, "unary_stream")

    spans = telemetry.wait_for_spans(0 if excluded == SERVICE else 2)
    assert all(s.name == SERVER_STREAM[1:] for s in spans)


@pytest.mark.parametrize("kind", KINDS)
def test_hooks_add_attributes_for_every_call_kind(
    kind: str,
    telemetry: Telemetry,
    start_sync_server: Any,
    open_sync_channel: Any,
) -> None:
    def request_hook(span: Any, request: Any, metadata: Any) -> None:
        values = {k: v for k, v in metadata if isinstance(v, str)}
        span.set_attribute("user.id", values["x-user-id"])
        span.set_attribute("tenant.id", values["x-tenant-id"])
        span.set_attribute("test.request", repr(request))

    def response_hook(span: Any, response: Any) -> None:
        span.set_attribute("test.response", repr(response))

    hooks = {"request_hook": request_hook, "response_hook": response_hook}
    port = start_sync_server([server_interceptor(**telemetry.providers, **hooks)])
    channel = open_sync_channel(port, client_interceptor(**telemetry.providers, **hooks))

    call_sync(channel, kind, metadata=(("x-user-id", "u-1"), ("x-tenant-id", "t-9")))

    for span in telemetry.wait_for_spans(2):
        assert span.attributes["user.id"] == "u-1"
        assert span.attributes["tenant.id"] == "t-9"
        unary_request = kind.startswith("unary")
        assert span.attributes["test.request"] == (repr(b"ok") if unary_request else "None")
        if kind.endswith("unary"):
            assert span.attributes["test.response"] == repr(EXPECTED[kind])
        else:
            assert "test.response" not in span.attributes


def test_failing_hooks_do_not_fail_the_call(
    telemetry: Telemetry, start_sync_server: Any, open_sync_channel: Any
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("hook bug")

    hooks = {"request_hook": broken, "response_hook": broken}
    port = start_sync_server([server_interceptor(**telemetry.providers, **hooks)])
    channel = open_sync_channel(port, client_interceptor(**telemetry.providers, **hooks))

    assert call_sync(channel, "unary_unary") == b"ok"
    assert len(telemetry.wait_for_spans(2)) == 2


def test_no_spans_when_not_sampled_but_context_and_metrics_still_flow(
    observed: Observed, start_sync_server: Any, open_sync_channel: Any
) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = Telemetry(tracer_provider, MeterProvider(metric_readers=[reader]), exporter, reader)
    port = start_sync_server([server_interceptor(**telemetry.providers)])
    channel = open_sync_channel(port, client_interceptor(**telemetry.providers))

    assert call_sync(channel, "unary_unary") == b"ok"

    assert telemetry.spans() == ()
    traceparent = dict(observed.last().metadata)["traceparent"]
    assert isinstance(traceparent, str)
    assert int(traceparent.rpartition("-")[2], 16) & 1 == 0, "sent as not sampled"
    assert len(telemetry.histogram_points("rpc.client.duration")) == 1
    assert len(telemetry.histogram_points("rpc.server.duration")) == 1


def test_one_handler_object_serving_many_methods_names_each_span_right(
    telemetry: Telemetry, start_sync_server: Any, open_sync_channel: Any
) -> None:
    shared = grpc.unary_unary_rpc_method_handler(lambda request, context: request)

    class CatchAll(grpc.GenericRpcHandler):
        def service(self, handler_call_details: Any) -> Any:
            return shared

    port = start_sync_server([server_interceptor(**telemetry.providers)], handlers=[CatchAll()])
    channel = open_sync_channel(port)

    for _ in range(2):
        channel.unary_unary("/proxy.Any/First")(b"1")
        channel.unary_unary("/proxy.Any/Second")(b"2")

    names = [s.name for s in telemetry.wait_for_spans(4)]
    assert names == ["proxy.Any/First", "proxy.Any/Second"] * 2


def test_a_none_response_that_cannot_be_serialized_fails_the_server_span(
    telemetry: Telemetry, start_sync_server: Any, open_sync_channel: Any
) -> None:
    def response_hook(span: Any, response: Any) -> None:
        span.set_attribute("test.response", repr(response))

    port = start_sync_server(
        [server_interceptor(**telemetry.providers, response_hook=response_hook)],
        handlers=[strict_sync_handlers()],
    )
    call = open_sync_channel(port).unary_unary(STRICT_UNARY)

    assert call(b"ok") == b"ok"
    with pytest.raises(grpc.RpcError) as unserializable:
        call(b"none")
    with pytest.raises(grpc.RpcError) as missing:
        call(b"missing")

    assert unserializable.value.code() is grpc.StatusCode.INTERNAL  # as grpc.server says
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND  # the code set: None is fine
    assert missing.value.details() == "no such thing"
    ok, failed, not_found = sorted(telemetry.wait_for_spans(3), key=lambda s: s.end_time or 0)
    assert ok.attributes["rpc.grpc.status_code"] == 0
    assert failed.attributes["rpc.grpc.status_code"] == 13
    assert failed.status.status_code is StatusCode.ERROR
    assert [e.attributes["exception.type"] for e in failed.events] == ["TypeError"]
    assert "test.response" not in failed.attributes
    assert not_found.attributes["rpc.grpc.status_code"] == 5
    assert not not_found.events


def test_a_none_response_without_a_serializer_fails_the_server_span(
    telemetry: Telemetry, start_sync_server: Any, open_sync_channel: Any
) -> None:
    def unary(request: bytes, context: Any) -> None:
        return None  # grpc.server has nothing to send: INTERNAL

    handlers = grpc.method_handlers_generic_handler(
        SERVICE, {"Unary": grpc.unary_unary_rpc_method_handler(unary)}
    )
    port = start_sync_server([server_interceptor(**telemetry.providers)], handlers=[handlers])

    with pytest.raises(grpc.RpcError) as raised:
        open_sync_channel(port).unary_unary(UNARY)(b"ok")

    assert raised.value.code() is grpc.StatusCode.INTERNAL
    (server,) = telemetry.wait_for_spans(1)
    assert server.attributes["rpc.grpc.status_code"] == 13
    assert server.status.description == "Failed to serialize response!"


def test_the_response_hook_runs_only_for_calls_that_succeed(
    telemetry: Telemetry, start_sync_server: Any, open_sync_channel: Any
) -> None:
    def response_hook(span: Any, response: Any) -> None:
        span.set_attribute("test.response", repr(response))

    port = start_sync_server(
        [server_interceptor(**telemetry.providers, response_hook=response_hook)]
    )
    channel = open_sync_channel(port)

    with pytest.raises(grpc.RpcError):
        call_sync(channel, "unary_unary", b"set_code:NOT_FOUND")
    with pytest.raises(grpc.RpcError):
        call_sync(channel, "unary_unary", b"wait", timeout=0.3)
    assert call_sync(channel, "unary_unary") == b"ok"

    spans = telemetry.wait_for_spans(3)
    hooked = {s.attributes["rpc.grpc.status_code"]: "test.response" in s.attributes for s in spans}
    assert hooked == {5: False, 4: False, 0: True}
