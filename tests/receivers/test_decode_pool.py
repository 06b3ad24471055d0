"""``DecodePool``: real worker processes decode as the server would, and survive being killed."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.processes import child_pids
from traceway.model import Span
from traceway.pipeline.api import RetryLaterError
from traceway.pipeline.limits import SpanLimiter, SpanLimits
from traceway.pipeline.redaction import MASK, RedactionRules, Redactor
from traceway.pipeline.span_rewrite import ScreenedBatch, screen_specs
from traceway.receivers import decode_pool
from traceway.receivers.decode_pool import (
    DECODE_THREAD_NICENESS,
    DECODE_THREADS,
    DecodePool,
    InlineDecoder,
    default_decode_workers,
)
from traceway.receivers.otlp_decode import (
    DecodedSpans,
    OtlpDecodeError,
    decode_json,
    decode_protobuf,
)
from traceway.receivers.otlp_encode import encode_protobuf, encode_request
from traceway.receivers.otlp_grpc import OtlpGrpcReceiver
from traceway.receivers.otlp_http import create_otlp_http_app
from traceway.receivers.otlp_json import request_to_json

SMALL = 1024  # bodies of at least this many bytes go to the workers in these tests


def spans(count: int, *, first: int = 1) -> list[Span]:
    return [
        Span(
            trace_id=f"{number // 8 + 1:032x}",
            span_id=f"{number:016x}",
            name=f"GET /orders/{number}",
            start_time_unix_nano=1_750_000_000_000_000_000 + number,
            end_time_unix_nano=1_750_000_000_000_000_000 + number + 1000,
            attributes={"http.method": "GET", "order.id": number, "ok": True, "ratio": 0.5},
        )
        for number in range(first, first + count)
    ]


def protobuf_body(count: int) -> bytes:
    return encode_protobuf(spans(count))


def slow_protobuf_body(count: int) -> bytes:
    """A body that takes a while: its list values leave it to the Python decoder."""
    return encode_protobuf(
        [replace(span, attributes={**span.attributes, "tags": ["a", "b"]}) for span in spans(count)]
    )


def json_body(count: int) -> bytes:
    return request_to_json(encode_request(spans(count)))


def with_bad_span_id(body: bytes) -> bytes:
    request = ExportTraceServiceRequest.FromString(body)
    request.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x01\x02"
    return request.SerializeToString()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return pid in child_pids(os.getpid())


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def kill_when_busy(pool: DecodePool) -> threading.Thread:
    """Kill the first worker that has been decoding a body for 20 ms of CPU."""

    def run() -> None:
        deadline = time.monotonic() + 60
        baseline: dict[int, int] = {}
        while time.monotonic() < deadline:
            for pid in pool.worker_pids:
                try:
                    ticks = cpu_ticks(pid)
                except OSError:
                    continue
                if baseline.setdefault(pid, ticks) + 2 <= ticks:
                    os.kill(pid, signal.SIGKILL)
                    return
            time.sleep(0.005)

    return started(run)


def kill_new_workers(pool: DecodePool, known: list[int]) -> threading.Thread:
    """Kill the first worker process started after those ``known``, at once."""

    def run() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for pid in pool.worker_pids:
                if pid not in known:
                    os.kill(pid, signal.SIGKILL)
                    return
            time.sleep(0.001)

    return started(run)


def started(run: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
async def pool() -> AsyncIterator[DecodePool]:
    async with DecodePool(2, min_body_bytes=SMALL) as pool:
        yield pool


def assert_same(decoded: DecodedSpans, expected: DecodedSpans) -> None:
    assert decoded.spans.table.equals(expected.spans.table)  # type: ignore[attr-defined]
    assert decoded.spans.resources == expected.spans.resources  # type: ignore[attr-defined]
    assert decoded.spans.scopes == expected.spans.scopes  # type: ignore[attr-defined]
    assert decoded.rejected_spans == expected.rejected_spans
    assert decoded.error_message == expected.error_message


async def test_workers_decode_protobuf_and_json_as_this_process_does(pool: DecodePool) -> None:
    body = protobuf_body(300)
    assert_same(await pool.decode(body, "protobuf"), decode_protobuf(body))
    text = json_body(300)
    assert_same(await pool.decode(text, "json"), decode_json(text))
    assert list((await pool.decode(body, "protobuf")).spans) == spans(300)
    slow = slow_protobuf_body(300)  # the C decoder leaves it to a worker
    assert_same(await pool.decode(slow, "protobuf"), decode_protobuf(slow))


async def test_rejected_spans_come_back_as_partial_success(pool: DecodePool) -> None:
    body = with_bad_span_id(protobuf_body(100))
    decoded = await pool.decode(body, "protobuf")
    assert decoded.rejected_spans == 1
    assert "span_id" in decoded.error_message
    assert_same(decoded, decode_protobuf(body))


@pytest.mark.parametrize(
    ("body", "body_format"),
    [
        (b"\xff" * 5000, "protobuf"),
        (b"{" * 5000, "json"),
        (b'{"resourceSpans": 7}' + b" " * 5000, "json"),
    ],
)
async def test_a_malformed_body_gives_the_same_error_as_inline(
    pool: DecodePool, body: bytes, body_format: str
) -> None:
    inline = decode_protobuf if body_format == "protobuf" else decode_json
    with pytest.raises(OtlpDecodeError) as expected:
        inline(body)
    with pytest.raises(OtlpDecodeError) as raised:
        await pool.decode(body, body_format)  # type: ignore[arg-type]
    assert str(raised.value) == str(expected.value)
    # ... and the worker is still there for the next body.
    assert len((await pool.decode(protobuf_body(50), "protobuf")).spans) == 50
    assert pool.replaced_workers == 0


def secret_spans(count: int) -> list[Span]:
    """Spans of which every sixteenth has a password and a long value."""
    return [
        replace(span, attributes={**span.attributes, "db.password": "hunter2", "note": "x" * 40})
        if span.span_id.endswith("0")
        else span
        for span in spans(count)
    ]


@pytest.mark.parametrize("workers", [0, 2])
async def test_decoders_screen_for_the_processors_as_the_event_loop_would(workers: int) -> None:
    processors = [
        Redactor(RedactionRules()),
        SpanLimiter(SpanLimits(max_attribute_length=20)),
    ]
    screens = screen_specs(processors)
    body = encode_protobuf(secret_spans(300))
    if workers:
        async with DecodePool(workers, min_body_bytes=SMALL, screens=screens) as pool:
            decoded = await pool.decode(body, "protobuf")
    else:
        decoded = await InlineDecoder(screens).decode(body, "protobuf")
    batch = decoded.spans
    assert isinstance(batch, ScreenedBatch)
    for processor in processors:
        expected = sorted(set(processor.screen(batch)))
        assert expected  # the spans with secrets
        assert batch.screened[processor.screen_spec] == expected
    redacted = processors[0].plan(batch)
    assert redacted is not None
    by_id = {span.span_id: span for span in redacted()}
    assert by_id[f"{16:016x}"].attributes["db.password"] == MASK
    assert by_id[f"{17:016x}"].attributes == spans(300)[16].attributes


async def test_small_bodies_decode_in_this_process(pool: DecodePool) -> None:
    for pid in pool.worker_pids:
        os.kill(pid, signal.SIGKILL)
    small = protobuf_body(1)
    assert len(small) < SMALL
    assert list((await pool.decode(small, "protobuf")).spans) == spans(1)
    assert pool.replaced_workers == 0


async def test_inline_decodes_share_a_few_threads_that_yield_to_the_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, int, int]] = []

    def recording(decode: Callable[[bytes], DecodedSpans]) -> Callable[[bytes], DecodedSpans]:
        def decode_here(body: bytes) -> DecodedSpans:
            thread = threading.current_thread()
            seen.append(
                (thread.name, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0))
            )
            time.sleep(0.05)  # the decodes overlap, so each would have a thread if it could
            return decode(body)

        return decode_here

    monkeypatch.setitem(decode_pool._INLINE_DECODERS, "protobuf", recording(decode_protobuf))
    monkeypatch.setattr(decode_pool, "decode_native", recording(decode_protobuf))
    body = protobuf_body(3)
    decoders = [InlineDecoder() for _ in range(4)]  # the threads are the process's
    decoded = await asyncio.gather(
        *(decoder.decode(body, "protobuf") for decoder in decoders),
        *(decoder.decode_natively(body) for decoder in decoders),
    )
    assert [list(spans_of.spans) for spans_of in decoded if spans_of is not None] == [spans(3)] * 8
    assert len(seen) == 8
    assert {name.rsplit("_", 1)[0] for name, _, _ in seen} == {"traceway-decode-inline"}
    assert len({thread_id for _, thread_id, _ in seen}) == DECODE_THREADS
    if sys.platform.startswith("linux"):  # elsewhere a thread's niceness is the process's
        lowered = os.getpriority(os.PRIO_PROCESS, 0) + DECODE_THREAD_NICENESS
        assert {niceness for _, _, niceness in seen} == {lowered}


async def test_a_worker_killed_mid_request_is_replaced_and_the_body_decoded_again() -> None:
    body = slow_protobuf_body(40_000)  # long enough to be killed while decoding it
    async with DecodePool(1, min_body_bytes=SMALL) as pool:
        (first,) = pool.worker_pids
        killer = kill_when_busy(pool)
        decoded = await pool.decode(body, "protobuf")
        killer.join()
        assert len(decoded.spans) == 40_000
        assert_same(decoded, decode_protobuf(body))
        assert pool.replaced_workers == 1
        assert pool.worker_pids != [first]
        assert not alive(first)
        assert len((await pool.decode(protobuf_body(20), "protobuf")).spans) == 20


async def test_a_body_whose_workers_keep_dying_is_refused_retryably() -> None:
    body = slow_protobuf_body(40_000)
    async with DecodePool(1, min_body_bytes=SMALL) as pool:
        killers = [kill_when_busy(pool), kill_new_workers(pool, pool.worker_pids)]
        with pytest.raises(RetryLaterError, match="decode worker"):
            await pool.decode(body, "protobuf")
        for killer in killers:
            killer.join()
        assert len((await pool.decode(protobuf_body(20), "protobuf")).spans) == 20


async def test_a_decode_that_takes_too_long_is_stopped_and_refused_retryably() -> None:
    async with DecodePool(1, min_body_bytes=SMALL, decode_timeout_s=0.2) as pool:
        (first,) = pool.worker_pids
        with pytest.raises(RetryLaterError, match=r"longer than 0\.2s"):
            await pool.decode(slow_protobuf_body(60_000), "protobuf")
        assert not alive(first)
        assert len((await pool.decode(slow_protobuf_body(20), "protobuf")).spans) == 20
        assert pool.replaced_workers == 1


async def test_other_requests_are_not_disturbed_by_a_dying_worker() -> None:
    async with DecodePool(2, min_body_bytes=SMALL) as pool:
        killer = kill_when_busy(pool)
        bodies = [slow_protobuf_body(20_000)] + [protobuf_body(200) for _ in range(10)]
        results = await asyncio.gather(*(pool.decode(body, "protobuf") for body in bodies))
        killer.join()
        assert [len(result.spans) for result in results] == [20_000] + [200] * 10


async def test_stop_finishes_running_decodes_then_leaves_no_process() -> None:
    pool = DecodePool(2, min_body_bytes=SMALL)
    await pool.start()
    pids = pool.worker_pids
    assert len(pids) == 2
    assert all(alive(pid) for pid in pids)
    running = asyncio.ensure_future(pool.decode(slow_protobuf_body(5_000), "protobuf"))
    await asyncio.sleep(0.05)
    await pool.stop()
    assert len((await running).spans) == 5_000
    assert not any(alive(pid) for pid in pids)
    with pytest.raises(RetryLaterError, match="shutting down"):
        await pool.decode(protobuf_body(100), "protobuf")
    await pool.stop()  # idempotent


async def test_too_many_waiting_bytes_are_refused_retryably() -> None:
    body = slow_protobuf_body(5_000)
    async with DecodePool(1, min_body_bytes=SMALL, max_waiting_bytes=len(body) + 10) as pool:
        results = await asyncio.gather(
            *(pool.decode(body, "protobuf") for _ in range(3)), return_exceptions=True
        )
    # Whichever came first (their C decoder attempts finish in any order) was decoded.
    decoded = [result for result in results if isinstance(result, DecodedSpans)]
    assert [len(result.spans) for result in decoded] == [5_000]
    assert sum(isinstance(result, RetryLaterError) for result in results) == 2


def test_a_pool_needs_a_worker_and_the_default_is_the_cpus() -> None:
    with pytest.raises(ValueError, match="InlineDecoder"):
        DecodePool(0)
    assert default_decode_workers() >= 1


# --- the receivers with a pool ---


class Consumer:
    def __init__(self) -> None:
        self.spans: list[Span] = []

    async def consume(self, spans: Sequence[Span]) -> None:
        self.spans.extend(spans)


async def post(app: object, body: bytes, content_type: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://traceway") as client:
        return await client.post("/v1/traces", content=body, headers={"Content-Type": content_type})


@pytest.mark.parametrize("content_type", ["application/x-protobuf", "application/json"])
async def test_otlp_http_answers_the_same_with_a_pool(pool: DecodePool, content_type: str) -> None:
    body = protobuf_body(500) if content_type.endswith("protobuf") else json_body(500)
    bad = b"\xff" * 5000 if content_type.endswith("protobuf") else b"[" * 5000
    answers = []
    for decoder in (pool, InlineDecoder()):
        consumer = Consumer()
        app = create_otlp_http_app(consumer, max_request_bytes=1 << 24, decoder=decoder)
        good, refused = await post(app, body, content_type), await post(app, bad, content_type)
        assert good.status_code == 200
        assert consumer.spans == spans(500)
        assert refused.status_code == 400
        answers.append((good.content, refused.content))
    assert answers[0] == answers[1]


async def test_otlp_http_says_retry_later_when_the_pool_is_stopping() -> None:
    pool = DecodePool(1, min_body_bytes=SMALL)
    await pool.start()
    await pool.stop()
    app = create_otlp_http_app(Consumer(), max_request_bytes=1 << 24, decoder=pool)
    response = await post(app, protobuf_body(100), "application/x-protobuf")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"


async def test_otlp_grpc_answers_the_same_with_a_pool(pool: DecodePool) -> None:
    consumer = Consumer()
    receiver = OtlpGrpcReceiver(consumer, max_request_bytes=1 << 24, decoder=pool)
    port = await receiver.start("127.0.0.1", 0)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=None,
                response_deserializer=ExportTraceServiceResponse.FromString,
            )
            answer = await export(with_bad_span_id(protobuf_body(500)), timeout=30)
            assert answer.partial_success.rejected_spans == 1
            assert len(consumer.spans) == 499
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await export(b"\xff" * 5000, timeout=30)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(OtlpDecodeError) as inline:
            decode_protobuf(b"\xff" * 5000)
        assert refused.value.details() == str(inline.value)
    finally:
        await receiver.stop()


def test_public_surface() -> None:
    import traceway.receivers.decode_pool as decode_pool
    import traceway.receivers.decode_worker as decode_worker

    assert sorted(decode_pool.__all__) == [
        "BodyFormat",
        "DECODE_THREADS",
        "DECODE_THREAD_NICENESS",
        "DEFAULT_DECODE_TIMEOUT_S",
        "DEFAULT_MAX_WAITING_BYTES",
        "DEFAULT_MIN_BODY_BYTES",
        "DecodePool",
        "DecodeWorkerError",
        "InlineDecoder",
        "SpanDecoder",
        "default_decode_workers",
    ]
    assert sorted(decode_worker.__all__) == [
        "DECODERS",
        "READY",
        "Reply",
        "main",
        "receive_message",
        "send_message",
        "serve",
    ]
