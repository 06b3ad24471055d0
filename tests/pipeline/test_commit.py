"""The commit pipeline: acknowledgement after commit, group commit, back-pressure, drain."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from traceway.model import Span
from traceway.pipeline.api import PipelineClosedError, RejectedSpansError, RetryLaterError
from traceway.pipeline.commit import CommitPipeline
from traceway.storage.api import StorageError


def make_spans(count: int, trace: int = 1) -> list[Span]:
    return [
        Span(
            trace_id=f"{trace:032x}",
            span_id=f"{i + 1:016x}",
            name="op",
            start_time_unix_nano=1_000 + i,
            end_time_unix_nano=2_000 + i,
        )
        for i in range(count)
    ]


class RecordingWriter:
    """A writer that records each committed batch and can be held or made to fail."""

    concurrent_writes = 1

    def __init__(self) -> None:
        self.batches: list[list[Span]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail_with: Exception | None = None

    def write_spans(self, spans: Sequence[Span]) -> None:
        self.entered.set()
        self.gate.wait(timeout=10)
        if self.fail_with is not None:
            raise self.fail_with
        self.batches.append(list(spans))

    def close(self) -> None:
        pass


async def wait_until_writing(writer: RecordingWriter) -> None:
    await asyncio.get_running_loop().run_in_executor(None, writer.entered.wait, 10)


async def held_in_its_commit(
    writer: RecordingWriter, spans: list[Span], **options: int
) -> tuple[CommitPipeline, asyncio.Task[None]]:
    """A started pipeline whose first commit, of ``spans``, the writer holds."""
    writer.gate.clear()
    pipeline = CommitPipeline(writer, **options)
    pipeline.start()
    first = asyncio.create_task(pipeline.consume(spans))
    await wait_until_writing(writer)
    return pipeline, first


async def test_consume_returns_only_after_commit() -> None:
    writer = RecordingWriter()
    writer.gate.clear()
    pipeline = CommitPipeline(writer)
    pipeline.start()
    task = asyncio.create_task(pipeline.consume(make_spans(3)))
    await wait_until_writing(writer)
    await asyncio.sleep(0.05)
    assert not task.done(), "acknowledged before the commit finished"
    writer.gate.set()
    await asyncio.wait_for(task, 10)
    assert [len(b) for b in writer.batches] == [3]
    await pipeline.shutdown()


async def test_requests_arriving_during_a_commit_share_the_next_commit() -> None:
    writer = RecordingWriter()
    writer.gate.clear()
    pipeline = CommitPipeline(writer)
    pipeline.start()
    first = asyncio.create_task(pipeline.consume(make_spans(1, trace=1)))
    await wait_until_writing(writer)
    waiting = [asyncio.create_task(pipeline.consume(make_spans(2, trace=t))) for t in (2, 3, 4)]
    await asyncio.sleep(0.05)
    writer.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *waiting), 10)
    assert [len(b) for b in writer.batches] == [1, 6]
    assert pipeline.stats.commits == 2
    await pipeline.shutdown()


async def test_full_queue_refuses_with_retry_later_and_keeps_what_it_accepted() -> None:
    writer = RecordingWriter()
    writer.gate.clear()
    pipeline = CommitPipeline(writer, max_queue_spans=5, retry_after_s=2.5)
    pipeline.start()
    in_flight = asyncio.create_task(pipeline.consume(make_spans(1, trace=1)))
    await wait_until_writing(writer)
    queued = asyncio.create_task(pipeline.consume(make_spans(4, trace=2)))
    await asyncio.sleep(0)
    with pytest.raises(RetryLaterError, match="queue is full") as refused:
        await pipeline.consume(make_spans(2, trace=3))
    assert refused.value.retry_after_s == 2.5
    writer.gate.set()
    await asyncio.wait_for(asyncio.gather(in_flight, queued), 10)
    stored = {s.trace_id for b in writer.batches for s in b}
    assert stored == {f"{1:032x}", f"{2:032x}"}
    assert pipeline.stats.refused_requests == 1
    await pipeline.shutdown()


async def test_storage_failure_is_reported_as_retry_later() -> None:
    writer = RecordingWriter()
    writer.fail_with = StorageError("disk full")
    pipeline = CommitPipeline(writer)
    pipeline.start()
    with pytest.raises(RetryLaterError, match="disk full"):
        await asyncio.wait_for(pipeline.consume(make_spans(2)), 10)
    writer.fail_with = None
    await asyncio.wait_for(pipeline.consume(make_spans(2)), 10)
    assert len(writer.batches) == 1
    assert pipeline.stats.failed_commits == 1
    await pipeline.shutdown()


async def test_shutdown_drains_the_queue_then_refuses() -> None:
    writer = RecordingWriter()
    writer.gate.clear()
    pipeline = CommitPipeline(writer)
    pipeline.start()
    tasks = [asyncio.create_task(pipeline.consume(make_spans(2, trace=t))) for t in range(1, 5)]
    await wait_until_writing(writer)
    stopping = asyncio.create_task(pipeline.shutdown())
    await asyncio.sleep(0.05)
    with pytest.raises(PipelineClosedError):
        await pipeline.consume(make_spans(1, trace=9))
    writer.gate.set()
    await asyncio.wait_for(stopping, 10)
    await asyncio.gather(*tasks)
    assert sum(len(b) for b in writer.batches) == 8
    await pipeline.shutdown()


class PickyWriter(RecordingWriter):
    """Refuses any batch holding a span named ``bad``, as storage does with invalid spans."""

    def write_spans(self, spans: Sequence[Span]) -> None:
        if any(s.name == "bad" for s in spans):
            raise ValueError("span name 'bad' is not allowed")
        super().write_spans(spans)


async def test_invalid_spans_refuse_only_their_own_request() -> None:
    writer = PickyWriter()
    writer.gate.clear()
    pipeline = CommitPipeline(writer)
    pipeline.start()
    first = asyncio.create_task(pipeline.consume(make_spans(1, trace=1)))
    await wait_until_writing(writer)
    bad = [Span(trace_id=f"{9:032x}", span_id="1" * 16, name="bad", start_time_unix_nano=1,
                end_time_unix_nano=2)]  # fmt: skip
    good = asyncio.create_task(pipeline.consume(make_spans(2, trace=2)))
    refused = asyncio.create_task(pipeline.consume(bad))
    also_good = asyncio.create_task(pipeline.consume(make_spans(3, trace=3)))
    await asyncio.sleep(0.05)
    writer.gate.set()
    await asyncio.wait_for(asyncio.gather(first, good, also_good), 10)
    with pytest.raises(RejectedSpansError, match="'bad' is not allowed"):
        await refused
    stored = sorted(len(b) for b in writer.batches)
    assert stored == [1, 2, 3]
    await pipeline.shutdown()


class SideBySideWriter(RecordingWriter):
    """Takes two writes at once, and records the size of each as it starts."""

    concurrent_writes = 2

    def __init__(self) -> None:
        super().__init__()
        self.started: list[int] = []

    def write_spans(self, spans: Sequence[Span]) -> None:
        self.started.append(len(spans))
        super().write_spans(spans)


async def test_a_second_commit_starts_beside_the_first_once_enough_spans_wait() -> None:
    writer = SideBySideWriter()
    pipeline, first = await held_in_its_commit(writer, make_spans(1), second_commit_spans=4)
    few = asyncio.create_task(pipeline.consume(make_spans(2, trace=2)))
    await asyncio.sleep(0.05)
    assert writer.started == [1], "a second commit started for too few spans"
    enough = asyncio.create_task(pipeline.consume(make_spans(2, trace=3)))
    async with asyncio.timeout(10):
        while writer.started == [1]:
            await asyncio.sleep(0.01)
    assert writer.started == [1, 4]
    assert not first.done()
    writer.gate.set()
    await asyncio.wait_for(asyncio.gather(first, few, enough), 10)
    assert pipeline.stats.commits == 2
    await pipeline.shutdown()


async def test_with_one_commit_running_the_rest_waits_for_it_below_the_threshold() -> None:
    writer = SideBySideWriter()
    pipeline, first = await held_in_its_commit(writer, make_spans(1), second_commit_spans=100)
    rest = [asyncio.create_task(pipeline.consume(make_spans(2, trace=t))) for t in (2, 3)]
    await asyncio.sleep(0.05)
    stopping = asyncio.create_task(pipeline.shutdown())
    await asyncio.sleep(0.05)
    assert writer.started == [1]
    writer.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *rest, stopping), 10)
    assert writer.started == [1, 4]


async def test_a_cancelled_commit_tells_its_senders_to_retry_instead_of_leaving_them_waiting() -> (
    None
):
    writer = RecordingWriter()
    pipeline, request = await held_in_its_commit(writer, make_spans(2))
    (commit,) = pipeline._commits
    commit.cancel()
    with pytest.raises(RetryLaterError, match="CancelledError"):
        await asyncio.wait_for(request, 10)
    writer.gate.set()
    await asyncio.wait_for(pipeline.consume(make_spans(1, trace=2)), 10)
    await pipeline.shutdown()
