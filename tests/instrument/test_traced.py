"""traced(): child spans as a context manager and as a decorator, sync and async."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Iterator

import pytest

from traceway.instrument import traced
from traceway.model import SpanKind, StatusCode
from traceway.testing import CapturedSpans


class Repository:
    @traced()
    def load(self, user_id: int) -> dict[str, int]:
        with traced("cache lookup", key=f"user:{user_id}", hit=False):
            return {"id": user_id}

    @traced("query users", table="users")
    async def search(self, prefix: str) -> list[str]:
        await asyncio.sleep(0)
        with traced("row decode"):
            return [prefix + "a"]


def test_context_manager_makes_a_child_span_with_attributes(spans: CapturedSpans) -> None:
    with traced("request") as outer, traced("cache lookup", key="user:7", hit=True) as inner:
        assert inner.is_recording()
        assert outer.get_span_context().trace_id == inner.get_span_context().trace_id

    lookup = spans.one("cache lookup", hit=True)
    assert lookup.attributes == {"key": "user:7", "hit": True}
    assert lookup.kind is SpanKind.INTERNAL
    assert spans.parent_of(lookup) == spans.one("request")


def test_decorator_names_the_span_after_the_function(spans: CapturedSpans) -> None:
    assert Repository().load(7) == {"id": 7}

    load = spans.one("Repository.load")
    assert load.attributes["code.function.name"] == f"{__name__}.Repository.load"
    spans.assert_tree({"Repository.load": {"cache lookup": {}}})


async def test_async_functions_are_traced_across_awaits(spans: CapturedSpans) -> None:
    repository = Repository()
    results = await asyncio.gather(repository.search("x"), repository.search("y"))

    assert results == [["xa"], ["ya"]]
    spans.assert_tree([("query users", ["row decode"]), ("query users", ["row decode"])])
    assert spans.find("query users", table="users")[0].attributes["table"] == "users"


async def test_async_with_works(spans: CapturedSpans) -> None:
    async with traced("publish", topic="orders"):
        await asyncio.sleep(0)

    assert spans.one("publish").attributes == {"topic": "orders"}


def test_bare_decorator(spans: CapturedSpans) -> None:
    @traced
    def ping() -> str:
        return "pong"

    assert ping() == "pong"
    assert spans.names() == ["test_bare_decorator.<locals>.ping"]


def test_exceptions_are_recorded_then_reraised(spans: CapturedSpans) -> None:
    @traced()
    def charge() -> None:
        raise KeyError("card")

    with pytest.raises(KeyError, match="card"):
        charge()
    with pytest.raises(TimeoutError), traced("call upstream"):
        raise TimeoutError("slow")

    charged = spans.one("test_exceptions_are_recorded_then_reraised.<locals>.charge")
    assert charged.status_code is StatusCode.ERROR
    assert charged.attributes["error.type"] == "KeyError"
    assert charged.events[0].name == "exception"
    assert charged.events[0].attributes["exception.type"] == "KeyError"
    upstream = spans.one("call upstream")
    assert upstream.status_code is StatusCode.ERROR
    assert upstream.status_message == "TimeoutError: slow"


def test_generators_and_nameless_blocks_are_refused() -> None:
    def rows() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="generator"):
        traced()(rows)
    with pytest.raises(TypeError, match="span name"), traced():
        pass


async def test_one_traced_object_entered_by_two_tasks_ends_each_ones_span(
    spans: CapturedSpans, caplog: pytest.LogCaptureFixture
) -> None:
    shared = traced("shared")
    both_open = asyncio.Event()
    first_done = asyncio.Event()

    async def first() -> None:
        async with shared as span:
            span.set_attribute("worker", 1)
            await both_open.wait()
        first_done.set()

    async def second() -> None:
        async with shared as span:
            span.set_attribute("worker", 2)
            both_open.set()
            await first_done.wait()  # the span opened last ends last

    await asyncio.gather(first(), second())

    one, two = spans.one("shared", worker=1), spans.one("shared", worker=2)
    assert one.end_time_unix_nano < two.end_time_unix_nano
    assert "Failed to detach context" not in caplog.text


def test_one_traced_object_entered_by_two_threads_ends_each_ones_span(
    spans: CapturedSpans,
) -> None:
    shared = traced("shared")
    both_open = threading.Barrier(2)
    first_done = threading.Event()

    def first() -> None:
        with shared as span:
            span.set_attribute("worker", 1)
            both_open.wait(timeout=10)
        first_done.set()

    def second() -> None:
        with shared as span:
            span.set_attribute("worker", 2)
            both_open.wait(timeout=10)
            first_done.wait(timeout=10)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    one, two = spans.one("shared", worker=1), spans.one("shared", worker=2)
    assert one.end_time_unix_nano < two.end_time_unix_nano


def test_a_block_left_in_another_context_still_ends_its_span(spans: CapturedSpans) -> None:
    # Starlette steps a sync streaming body in a fresh copy of the context each time.
    def body() -> Iterator[str]:
        with traced("render"):
            yield "head"
            yield "rows"

    chunks = body()
    received = [contextvars.copy_context().run(next, chunks) for _ in range(2)]
    with pytest.raises(StopIteration):
        contextvars.copy_context().run(next, chunks)

    assert received == ["head", "rows"]
    assert spans.names() == ["render"]


def test_a_block_left_elsewhere_ends_its_own_span_beside_another_of_the_same_object(
    spans: CapturedSpans,
) -> None:
    shared = traced("shared")

    def body() -> Iterator[str]:
        with shared as span:
            span.set_attribute("block", "body")
            yield "chunk"

    chunks = body()
    assert contextvars.copy_context().run(next, chunks) == "chunk"
    with shared as span:
        span.set_attribute("block", "outer")
        with pytest.raises(StopIteration):
            contextvars.copy_context().run(next, chunks)  # the body's block ends here
        assert spans.names() == ["shared"]
        assert spans.one("shared").attributes == {"block": "body"}

    assert [s.attributes["block"] for s in spans] == ["body", "outer"]


def test_a_block_entered_and_left_from_other_frames_ends_its_span(spans: CapturedSpans) -> None:
    with contextlib.ExitStack() as stack:  # enter_context and __exit__ are two frames
        stack.enter_context(traced("stacked"))
        assert spans.names() == []

    assert spans.names() == ["stacked"]
