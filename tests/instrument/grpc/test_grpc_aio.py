"""grpc.aio client and server interceptors against a real grpc.aio.server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from tests.instrument.grpc.grpc_echo import (
    BIDI,
    CLIENT_STREAM,
    HEALTH_CHECK,
    KINDS,
    METHOD_OF_KIND,
    SERVER_STREAM,
    SERVICE,
    STREAM_REPLIES,
    STRICT_UNARY,
    UNARY,
    WRITER_STREAM,
    Observed,
    call_aio,
    strict_aio_handlers,
)
from tests.instrument.grpc.grpc_telemetry import Telemetry, one
from traceway.instrument.grpc import aio_client_interceptors, aio_server_interceptor

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

OpenChannel = Callable[..., grpc.aio.Channel]


@pytest.fixture
async def open_aio_channel() -> AsyncIterator[OpenChannel]:
    channels: list[grpc.aio.Channel] = []

    def open_channel(port: int, interceptors: Any = None) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=interceptors)
        channels.append(channel)
        return channel

    yield open_channel
    for channel in channels:
        await channel.close(None)


@pytest.fixture
def traced_channel(
    telemetry: Telemetry, start_aio_server: Any, open_aio_channel: OpenChannel
) -> Callable[..., Any]:
    """`await traced_channel(**client_options)`: a traced aio channel to a traced aio server."""

    async def make(**client_options: Any) -> grpc.aio.Channel:
        port = await start_aio_server([aio_server_interceptor(**telemetry.providers)])
        interceptors = aio_client_interceptors(
            target=f"127.0.0.1:{port}", **telemetry.providers, **client_options
        )
        return open_aio_channel(port, interceptors)

    return make


@pytest.mark.parametrize("kind", KINDS)
async def test_each_call_kind_gets_a_client_span_and_a_child_server_span(
    kind: str, telemetry: Telemetry, observed: Observed, traced_channel: Any
) -> None:
    channel = await traced_channel()

    assert await call_aio(channel, kind) == EXPECTED[kind]

    spans = await telemetry.async_wait_for_spans(2)
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    name = METHOD_OF_KIND[kind][1:]
    assert client.name == server.name == name
    assert server.parent is not None and server.parent.is_remote
    assert server.parent.span_id == client.context.span_id
    for span in (client, server):
        assert span.attributes["rpc.system"] == "grpc"
        assert span.attributes["rpc.service"] == SERVICE
        assert span.attributes["rpc.method"] == name.rpartition("/")[2]
        assert span.attributes["rpc.grpc.status_code"] == 0
        assert span.status.status_code is StatusCode.UNSET
    assert client.attributes["server.address"] == "127.0.0.1"
    assert server.attributes["network.peer.address"] == "127.0.0.1"
    assert isinstance(server.attributes["network.peer.port"], int)
    assert observed.last().span_context.span_id == server.context.span_id


async def test_stream_handler_writing_through_the_context(
    telemetry: Telemetry, observed: Observed, traced_channel: Any
) -> None:
    channel = await traced_channel()

    replies = [r async for r in channel.unary_stream(WRITER_STREAM)(b"ok")]

    assert replies == [b"ok"] * STREAM_REPLIES
    spans = await telemetry.async_wait_for_spans(2)
    server = one(spans, SpanKind.SERVER)
    assert server.attributes["rpc.grpc.status_code"] == 0
    assert observed.last().span_context.span_id == server.context.span_id


@pytest.mark.parametrize(
    "metadata",
    [
        grpc.aio.Metadata(("x-rep", "a"), ("x-rep", "b"), ("x-bin", b"\x00")),
        (("x-rep", "a"), ("x-rep", "b"), ("x-bin", b"\x00")),
        [("x-rep", "a"), ("x-rep", "b"), ("x-bin", b"\x00")],
    ],
    ids=["aio.Metadata", "tuple", "list"],
)
@pytest.mark.parametrize("kind", KINDS)
async def test_metadata_of_any_shape_keeps_repeated_keys(
    kind: str, metadata: Any, telemetry: Telemetry, observed: Observed, traced_channel: Any
) -> None:
    channel = await traced_channel()

    assert await call_aio(channel, kind, metadata=metadata) == EXPECTED[kind]

    received = observed.last().metadata
    assert [v for k, v in received if k == "x-rep"] == ["a", "b"]
    assert ("x-bin", b"\x00") in received
    assert [k for k, _ in received].count("traceparent") == 1
    await telemetry.async_wait_for_spans(2)


async def test_no_metadata(telemetry: Telemetry, observed: Observed, traced_channel: Any) -> None:
    channel = await traced_channel()

    await channel.unary_unary(UNARY)(b"ok", metadata=None)

    assert "traceparent" in dict(observed.last().metadata)


@pytest.mark.parametrize("code", NON_OK, ids=lambda code: code.name)
async def test_abort_gives_its_code_and_details_to_both_spans(
    code: grpc.StatusCode, telemetry: Telemetry, traced_channel: Any
) -> None:
    channel = await traced_channel()

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call_aio(channel, "unary_unary", f"abort:{code.name}".encode())

    assert raised.value.code() is code
    spans = await telemetry.async_wait_for_spans(2)
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
    assert not server.events


@pytest.mark.parametrize("kind", KINDS)
async def test_abort_in_any_call_kind(kind: str, telemetry: Telemetry, traced_channel: Any) -> None:
    channel = await traced_channel()

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call_aio(channel, kind, b"abort:DATA_LOSS")

    assert raised.value.code() is grpc.StatusCode.DATA_LOSS
    for span in await telemetry.async_wait_for_spans(2):
        assert span.attributes["rpc.grpc.status_code"] == 15
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "aborted with DATA_LOSS"


@pytest.mark.parametrize("kind", KINDS)
async def test_exception_in_handler_is_recorded_on_the_server_span(
    kind: str, telemetry: Telemetry, traced_channel: Any
) -> None:
    channel = await traced_channel()

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call_aio(channel, kind, b"raise")

    assert raised.value.code() is grpc.StatusCode.UNKNOWN
    spans = await telemetry.async_wait_for_spans(2)
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    assert server.attributes["rpc.grpc.status_code"] == 2
    assert server.status.status_code is StatusCode.ERROR
    assert server.status.description == "ValueError: boom"
    [event] = server.events
    assert event.attributes["exception.type"] == "ValueError"
    assert client.status.status_code is StatusCode.ERROR


async def test_code_set_without_abort(telemetry: Telemetry, traced_channel: Any) -> None:
    channel = await traced_channel()

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call_aio(channel, "unary_unary", b"set_code:NOT_FOUND")

    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    spans = await telemetry.async_wait_for_spans(2)
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    assert server.attributes["rpc.grpc.status_code"] == 5
    assert server.status.status_code is StatusCode.UNSET
    assert client.status.description == "set to NOT_FOUND"


@pytest.mark.parametrize("kind", KINDS)
async def test_deadline_exceeded_on_both_sides(
    kind: str, telemetry: Telemetry, traced_channel: Any
) -> None:
    channel = await traced_channel()

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call_aio(channel, kind, b"wait", timeout=0.3)

    assert raised.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    for span in await telemetry.async_wait_for_spans(2):
        assert span.attributes["rpc.grpc.status_code"] == 4, span.kind
        assert span.status.status_code is StatusCode.ERROR


@pytest.mark.parametrize("method", [SERVER_STREAM, BIDI, WRITER_STREAM])
async def test_client_cancels_mid_stream(
    method: str, telemetry: Telemetry, traced_channel: Any
) -> None:
    channel = await traced_channel()
    if method == BIDI:
        call = channel.stream_stream(method)()
        await call.write(b"forever")
    else:
        call = channel.unary_stream(method)(b"forever")

    assert await call.read() == b"tick"
    assert await call.read() == b"tick"
    assert call.cancel()

    assert call.cancelled()
    assert await call.code() is grpc.StatusCode.CANCELLED
    spans = await telemetry.async_wait_for_spans(2)
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    assert client.attributes["rpc.grpc.status_code"] == 1
    assert client.status.status_code is StatusCode.ERROR
    assert server.attributes["rpc.grpc.status_code"] == 1
    assert server.status.status_code is StatusCode.UNSET


async def test_cancelled_async_iteration_cancels_the_call(
    telemetry: Telemetry, traced_channel: Any
) -> None:
    channel = await traced_channel()
    call = channel.unary_stream(SERVER_STREAM)(b"forever")

    async def consume() -> None:
        async for _ in call:
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    for span in await telemetry.async_wait_for_spans(2):
        assert span.attributes["rpc.grpc.status_code"] == 1, span.kind


@pytest.mark.parametrize("method", [UNARY, CLIENT_STREAM])
async def test_cancelling_the_awaiting_task_propagates(
    method: str, telemetry: Telemetry, observed: Observed, traced_channel: Any
) -> None:
    channel = await traced_channel()
    if method == UNARY:
        call = channel.unary_unary(method)(b"wait")
    else:
        call = channel.stream_unary(method)(iter([b"wait"]))
    task = asyncio.ensure_future(call)
    while not observed.calls:
        await asyncio.sleep(0.005)

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    spans = await telemetry.async_wait_for_spans(2)
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    assert client.attributes["rpc.grpc.status_code"] == 1
    assert server.attributes["rpc.grpc.status_code"] == 1


async def test_unknown_method_is_unimplemented_on_both_sides(
    telemetry: Telemetry, traced_channel: Any
) -> None:
    channel = await traced_channel()

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await channel.unary_unary(f"/{SERVICE}/Missing")(b"ok")

    assert raised.value.code() is grpc.StatusCode.UNIMPLEMENTED
    for span in await telemetry.async_wait_for_spans(2):
        assert span.name == f"{SERVICE}/Missing"
        assert span.attributes["rpc.grpc.status_code"] == 12
        assert span.status.status_code is StatusCode.ERROR


async def test_health_checks_are_not_traced_by_default(
    telemetry: Telemetry, traced_channel: Any
) -> None:
    channel = await traced_channel()

    assert await channel.unary_unary(HEALTH_CHECK)(b"") == b"SERVING"

    assert telemetry.spans() == ()


@pytest.mark.parametrize("kind", KINDS)
async def test_hooks_add_attributes_for_every_call_kind(
    kind: str, telemetry: Telemetry, start_aio_server: Any, open_aio_channel: OpenChannel
) -> None:
    def request_hook(span: Any, request: Any, metadata: Any) -> None:
        values = {k: v for k, v in metadata if isinstance(v, str)}
        span.set_attribute("user.id", values["x-user-id"])
        span.set_attribute("test.request", repr(request))

    def response_hook(span: Any, response: Any) -> None:
        span.set_attribute("test.response", repr(response))

    hooks = {"request_hook": request_hook, "response_hook": response_hook}
    port = await start_aio_server([aio_server_interceptor(**telemetry.providers, **hooks)])
    channel = open_aio_channel(port, aio_client_interceptors(**telemetry.providers, **hooks))

    await call_aio(channel, kind, metadata=(("x-user-id", "u-1"),))

    for span in await telemetry.async_wait_for_spans(2):
        assert span.attributes["user.id"] == "u-1"
        unary_request = kind.startswith("unary")
        assert span.attributes["test.request"] == (repr(b"ok") if unary_request else "None")
        if kind.endswith("unary"):
            assert span.attributes["test.response"] == repr(EXPECTED[kind])
        else:
            assert "test.response" not in span.attributes


async def test_sync_handlers_on_an_aio_server(
    telemetry: Telemetry, start_aio_server: Any, open_aio_channel: OpenChannel
) -> None:
    def unary(request: bytes, context: Any) -> bytes:
        assert trace.get_current_span().get_span_context().is_valid
        return request

    def stream(request: bytes, context: Any) -> Any:
        yield request
        yield request

    handlers = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(stream),
        },
    )
    port = await start_aio_server([aio_server_interceptor(**telemetry.providers)], [handlers])
    channel = open_aio_channel(port, aio_client_interceptors(**telemetry.providers))

    assert await channel.unary_unary(UNARY)(b"ok") == b"ok"
    assert [r async for r in channel.unary_stream(SERVER_STREAM)(b"s")] == [b"s", b"s"]

    spans = await telemetry.async_wait_for_spans(4)
    for span in spans:
        assert span.attributes["rpc.grpc.status_code"] == 0
    for name in (UNARY[1:], SERVER_STREAM[1:]):
        client, server = one(spans, SpanKind.CLIENT, name), one(spans, SpanKind.SERVER, name)
        assert server.parent is not None and server.parent.span_id == client.context.span_id


async def test_codes_set_by_sync_handlers_on_an_aio_server_reach_their_spans(
    telemetry: Telemetry, start_aio_server: Any, open_aio_channel: OpenChannel
) -> None:
    # grpc.aio gives sync handlers a context without code()/details() to read back.
    def unary(request: bytes, context: Any) -> bytes:
        if request == b"missing":
            context.set_code(grpc.StatusCode.NOT_FOUND)
            context.set_details("no such thing")
        elif request == b"denied":
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "not yours", (("x-why", "policy"),))
        return request

    def response_hook(span: Any, response: Any) -> None:
        span.set_attribute("test.response", repr(response))

    handlers = grpc.method_handlers_generic_handler(
        SERVICE, {"Unary": grpc.unary_unary_rpc_method_handler(unary)}
    )
    interceptor = aio_server_interceptor(**telemetry.providers, response_hook=response_hook)
    call = open_aio_channel(await start_aio_server([interceptor], [handlers])).unary_unary(UNARY)

    for request, code in ((b"missing", "NOT_FOUND"), (b"denied", "PERMISSION_DENIED")):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(request)
        assert raised.value.code() is grpc.StatusCode[code]
    assert ("x-why", "policy") in tuple(raised.value.trailing_metadata())  # passed on whole
    assert await call(b"ok") == b"ok"

    spans = await telemetry.async_wait_for_spans(3)
    found = {
        s.attributes["rpc.grpc.status_code"]: (
            s.status.description,
            "test.response" in s.attributes,
        )
        for s in spans
    }
    assert found == {5: (None, False), 7: (None, False), 0: (None, True)}
    denied = next(s for s in spans if s.attributes["rpc.grpc.status_code"] == 7)
    assert not denied.events  # an abort is the handler's answer, not an exception


# --- beside the application's own interceptors ----------------------------------------


class AppAioClient:
    """Adds `x-app` metadata the grpc.aio way and notes the current span, for every kind.

    grpc.aio files an interceptor under the first call kind it implements, so each kind
    gets its own object.
    """

    def __init__(self) -> None:
        self.seen_spans: list[trace.Span] = []

    async def go(self, continuation: Any, details: Any, argument: Any) -> Any:
        self.seen_spans.append(trace.get_current_span())
        metadata = details.metadata if details.metadata is not None else grpc.aio.Metadata()
        metadata.add("x-app", "1")
        return await continuation(details._replace(metadata=metadata), argument)

    def interceptors(self) -> list[Any]:
        app = self

        class UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
            async def intercept_unary_unary(self, continuation: Any, details: Any, r: Any) -> Any:
                return await app.go(continuation, details, r)

        class UnaryStream(grpc.aio.UnaryStreamClientInterceptor):
            async def intercept_unary_stream(self, continuation: Any, details: Any, r: Any) -> Any:
                return await app.go(continuation, details, r)

        class StreamUnary(grpc.aio.StreamUnaryClientInterceptor):
            async def intercept_stream_unary(self, continuation: Any, details: Any, r: Any) -> Any:
                return await app.go(continuation, details, r)

        class StreamStream(grpc.aio.StreamStreamClientInterceptor):
            async def intercept_stream_stream(self, continuation: Any, details: Any, r: Any) -> Any:
                return await app.go(continuation, details, r)

        return [UnaryUnary(), UnaryStream(), StreamUnary(), StreamStream()]


class AppAioServerInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self) -> None:
        self.methods: list[str] = []

    async def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        self.methods.append(handler_call_details.method)
        return await continuation(handler_call_details)


@pytest.mark.parametrize("ours_first", [True, False], ids=["ours-first", "app-first"])
@pytest.mark.parametrize("kind", KINDS)
async def test_beside_application_interceptors_in_either_order(
    kind: str,
    ours_first: bool,
    telemetry: Telemetry,
    observed: Observed,
    start_aio_server: Any,
    open_aio_channel: OpenChannel,
) -> None:
    app_client, app_server = AppAioClient(), AppAioServerInterceptor()
    ours_server = aio_server_interceptor(**telemetry.providers)
    ours_client = aio_client_interceptors(**telemetry.providers)
    server_chain = [ours_server, app_server] if ours_first else [app_server, ours_server]
    app_chain = app_client.interceptors()
    client_chain = [*ours_client, *app_chain] if ours_first else [*app_chain, *ours_client]
    port = await start_aio_server(server_chain)
    channel = open_aio_channel(port, client_chain)

    assert await call_aio(channel, kind, metadata=(("x-user", "u"),)) == EXPECTED[kind]

    spans = await telemetry.async_wait_for_spans(2)
    client, server = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    received = dict(observed.last().metadata)
    assert received["x-app"] == "1"
    assert received["x-user"] == "u"
    assert app_server.methods == [METHOD_OF_KIND[kind]]
    [seen] = app_client.seen_spans
    if ours_first:
        assert seen.get_span_context().span_id == client.context.span_id


async def test_chain_of_aio_services_is_one_trace(
    telemetry: Telemetry, start_aio_server: Any, open_aio_channel: OpenChannel
) -> None:
    port_b = await start_aio_server([aio_server_interceptor(**telemetry.providers)])
    to_b = open_aio_channel(port_b, aio_client_interceptors(**telemetry.providers))

    async def relay(request: bytes, context: Any) -> bytes:
        return b"A>" + await to_b.unary_unary(UNARY)(request)

    front = grpc.method_handlers_generic_handler(
        "traceway.test.Front", {"Relay": grpc.unary_unary_rpc_method_handler(relay)}
    )
    port_a = await start_aio_server([aio_server_interceptor(**telemetry.providers)], [front])
    to_a = open_aio_channel(port_a, aio_client_interceptors(**telemetry.providers))

    assert await to_a.unary_unary("/traceway.test.Front/Relay")(b"ok") == b"A>ok"

    spans = await telemetry.async_wait_for_spans(4)
    client = one(spans, SpanKind.CLIENT, "traceway.test.Front/Relay")
    a_server = one(spans, SpanKind.SERVER, "traceway.test.Front/Relay")
    a_client = one(spans, SpanKind.CLIENT, UNARY[1:])
    b_server = one(spans, SpanKind.SERVER, UNARY[1:])
    assert {s.context.trace_id for s in spans} == {client.context.trace_id}
    assert a_server.parent is not None and a_server.parent.span_id == client.context.span_id
    assert a_client.parent is not None and a_client.parent.span_id == a_server.context.span_id
    assert b_server.parent is not None and b_server.parent.span_id == a_client.context.span_id


async def test_abort_keeps_its_trailing_metadata(
    telemetry: Telemetry, start_aio_server: Any, open_aio_channel: OpenChannel
) -> None:
    async def refuse(request: bytes, context: Any) -> bytes:
        await context.abort(
            grpc.StatusCode.PERMISSION_DENIED, "no", trailing_metadata=(("x-reason", "quota"),)
        )
        return b""

    handlers = grpc.method_handlers_generic_handler(
        SERVICE, {"Unary": grpc.unary_unary_rpc_method_handler(refuse)}
    )
    port = await start_aio_server([aio_server_interceptor(**telemetry.providers)], [handlers])
    channel = open_aio_channel(port, aio_client_interceptors(**telemetry.providers))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await channel.unary_unary(UNARY)(b"ok")

    assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert ("x-reason", "quota") in tuple(raised.value.trailing_metadata())
    server = one(await telemetry.async_wait_for_spans(2), SpanKind.SERVER)
    assert server.attributes["rpc.grpc.status_code"] == 7


async def test_a_none_response_that_cannot_be_serialized_fails_the_server_span(
    telemetry: Telemetry, start_aio_server: Any, open_aio_channel: OpenChannel
) -> None:
    port = await start_aio_server(
        [aio_server_interceptor(**telemetry.providers)], handlers=[strict_aio_handlers()]
    )
    call = open_aio_channel(port).unary_unary(STRICT_UNARY)

    assert await call(b"ok") == b"ok"
    with pytest.raises(grpc.RpcError) as unserializable:
        await call(b"none")
    with pytest.raises(grpc.RpcError) as missing:
        await call(b"missing")

    assert unserializable.value.code() is grpc.StatusCode.UNKNOWN  # as grpc.aio says
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND  # the code set: None is fine
    assert missing.value.details() == "no such thing"
    spans = await telemetry.async_wait_for_spans(3)
    ok, failed, not_found = sorted(spans, key=lambda s: s.end_time or 0)
    assert ok.attributes["rpc.grpc.status_code"] == 0
    assert failed.attributes["rpc.grpc.status_code"] == 2
    assert failed.status.status_code is StatusCode.ERROR
    assert [e.attributes["exception.type"] for e in failed.events] == ["TypeError"]
    assert not_found.attributes["rpc.grpc.status_code"] == 5
    assert not not_found.events


async def test_the_response_hook_runs_only_for_calls_that_succeed(
    telemetry: Telemetry, start_aio_server: Any, open_aio_channel: OpenChannel
) -> None:
    def response_hook(span: Any, response: Any) -> None:
        span.set_attribute("test.response", repr(response))

    interceptor = aio_server_interceptor(**telemetry.providers, response_hook=response_hook)
    channel = open_aio_channel(await start_aio_server([interceptor]))

    with pytest.raises(grpc.RpcError):
        await call_aio(channel, "unary_unary", b"set_code:NOT_FOUND")
    assert await call_aio(channel, "unary_unary") == b"ok"

    spans = await telemetry.async_wait_for_spans(2)
    hooked = {s.attributes["rpc.grpc.status_code"]: "test.response" in s.attributes for s in spans}
    assert hooked == {5: False, 0: True}
