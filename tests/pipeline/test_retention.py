"""Retention: age and size limits, on the memory store and a real DuckDB file."""

from __future__ import annotations

import argparse
import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from traceway.commands.options import duration, size
from traceway.model import Resource, Span
from traceway.pipeline import retention
from traceway.pipeline.retention import RetentionPolicy, RetentionTask
from traceway.storage.api import StorageError, TraceQuery, TraceStore
from traceway.storage.duckdb import DuckDBStore
from traceway.storage.memory import MemoryStore
from traceway.storage.memory.store import SPAN_BYTES_ESTIMATE

MINUTE_NS = 60 * 10**9
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS
NOW = 1_700_000_000 * 10**9
RESOURCE = Resource({"service.name": "shop"})


def _trace(number: int, start_ns: int, spans: int = 3) -> list[Span]:
    return [
        Span(
            f"{number + 1:032x}",
            f"{i + 1:016x}",
            f"step {i}",
            start_ns + i,
            start_ns + i + 1000,
            attributes={"payload": f"{number}.{i}" + "x" * 300},  # bulky, each its own
            resource=RESOURCE,
        )
        for i in range(spans)
    ]


def _hourly(store: TraceStore, hours: int) -> None:
    """One trace starting every hour of the last ``hours``; trace n is n hours old (its
    last span 2ns younger, so with a one-day limit traces 0 to 24 stay)."""
    for n in range(hours):
        store.write_spans(_trace(n, NOW - n * HOUR_NS))


def _stored_ages(store: TraceStore) -> list[int]:
    ids = store.find_trace_ids(TraceQuery(limit=100_000))
    return sorted(int(trace_id, 16) - 1 for trace_id in ids)


def _task(store: TraceStore, **policy: object) -> RetentionTask:
    return RetentionTask(store, RetentionPolicy(**policy), clock=lambda: NOW)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "duckdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TraceStore]:
    opened: TraceStore = (
        MemoryStore() if request.param == "memory" else DuckDBStore(tmp_path / "traces.duckdb")
    )
    yield opened
    opened.close()


def test_traces_older_than_the_age_limit_are_deleted(store: TraceStore) -> None:
    _hourly(store, 72)
    deleted = _task(store, max_age_ns=DAY_NS).run_round()
    assert _stored_ages(store) == list(range(25))
    assert deleted == 47 * 3


def test_a_trace_with_a_recent_span_is_kept_whole(store: TraceStore) -> None:
    store.write_spans([*_trace(0, NOW - 3 * DAY_NS)[:2], *_trace(0, NOW - HOUR_NS)[2:]])
    assert _task(store, max_age_ns=DAY_NS).run_round() == 0
    trace = store.get_trace(f"{1:032x}")
    assert trace is not None and len(trace.spans) == 3


def test_the_oldest_traces_go_until_the_store_fits(tmp_path: Path) -> None:
    store = MemoryStore()
    _hourly(store, 100)
    limit = 40 * 3 * SPAN_BYTES_ESTIMATE
    _task(store, max_bytes=limit).run_round()
    ages = _stored_ages(store)
    assert store.storage_bytes() <= limit
    assert ages == list(range(len(ages)))  # the newest are what is left
    assert len(ages) >= 30  # steps of a tenth: not much more than needed goes


def test_the_newest_hour_is_kept_even_over_the_size_limit() -> None:
    store = MemoryStore()
    for n in range(10):
        store.write_spans(_trace(n, NOW - n * MINUTE_NS))
    assert _task(store, max_bytes=SPAN_BYTES_ESTIMATE).run_round() == 0
    assert len(_stored_ages(store)) == 10


def test_a_duckdb_file_is_brought_under_its_size_limit(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "traces.duckdb") as store:
        for day in range(30):
            store.write_spans(
                [
                    span
                    for n in range(300)
                    for span in _trace(day * 1000 + n, NOW - day * DAY_NS - n * MINUTE_NS)
                ]
            )
        full = store.storage_bytes()
        limit = full // 2
        deleted = _task(store, max_bytes=limit).run_round()
        assert deleted > 0
        assert store.storage_bytes() <= limit
        newest = store.get_trace(f"{1:032x}")
        assert newest is not None and len(newest.spans) == 3
        assert store.oldest_trace_start_ns() is not None


class FlakyStore(MemoryStore):
    """Fails its first deletion, and can hold a deletion until released."""

    def __init__(self) -> None:
        super().__init__()
        self.failures_left = 1
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def delete_traces_before(self, cutoff_ns: int) -> int:
        self.entered.set()
        self.release.wait(timeout=10)
        if self.failures_left:
            self.failures_left -= 1
            raise StorageError("disk on fire")
        return super().delete_traces_before(cutoff_ns)


async def _until(condition: object, timeout_s: float = 10) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def test_a_failing_round_is_retried_and_the_task_keeps_running() -> None:
    store = FlakyStore()
    _hourly(store, 48)
    task = RetentionTask(
        store, RetentionPolicy(max_age_ns=DAY_NS, interval_s=0.01), clock=lambda: NOW
    )
    task.start()
    task.start()
    try:
        await _until(lambda: task.deleted_spans == 23 * 3)
        assert task.failed_rounds == 1
    finally:
        await task.stop()
        await task.stop()
    assert _stored_ages(store) == list(range(25))


@pytest.mark.parametrize(
    ("interval_s", "delays"), [(3600, (0.01, 0.02, 0.04)), (0.02, (0.01, 0.02, 0.02))]
)
async def test_after_a_failure_the_next_round_comes_soon_then_later_up_to_the_interval(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    interval_s: float,
    delays: tuple[float, ...],
) -> None:
    monkeypatch.setattr(retention, "FIRST_RETRY_S", 0.01)
    store = FlakyStore()
    store.failures_left = 3
    _hourly(store, 48)
    task = RetentionTask(
        store, RetentionPolicy(max_age_ns=DAY_NS, interval_s=interval_s), clock=lambda: NOW
    )
    with caplog.at_level(logging.INFO, logger=retention.__name__):
        task.start()
        try:
            await _until(lambda: task.deleted_spans == 23 * 3)
        finally:
            await task.stop()
    assert task.failed_rounds == 3
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    # A storage error is one clear line, with no traceback, and says when the next try is.
    assert [r.getMessage() for r in failures] == [
        f"retention round failed: disk on fire; trying again in {delay:g}s" for delay in delays
    ]
    assert all(r.exc_info is None for r in failures)
    assert "retention round succeeded after 3 failed" in caplog.text


async def test_stop_waits_for_a_running_round() -> None:
    store = FlakyStore()
    store.failures_left = 0
    store.release.clear()
    _hourly(store, 48)
    task = RetentionTask(store, RetentionPolicy(max_age_ns=DAY_NS), clock=lambda: NOW)
    task.start()
    await asyncio.get_running_loop().run_in_executor(None, store.entered.wait, 10)
    stopping = asyncio.create_task(task.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()
    store.release.set()
    await asyncio.wait_for(stopping, 10)
    assert task.deleted_spans == 23 * 3


async def test_stop_without_start_and_no_limits_are_harmless() -> None:
    task = RetentionTask(MemoryStore(), RetentionPolicy())
    task.start()  # no limit set: nothing to run
    await task.stop()
    await task.stop()


@pytest.mark.parametrize(
    ("text", "nanos"),
    [("7d", 7 * DAY_NS), ("2w", 14 * DAY_NS), ("12h", 12 * HOUR_NS), ("30m", 30 * MINUTE_NS),
     ("1d12h", 36 * HOUR_NS), ("90s", 90 * 10**9)],
)  # fmt: skip
def test_durations(text: str, nanos: int) -> None:
    assert duration(text) == nanos


@pytest.mark.parametrize("text", ["", "7", "0d", "-1d", "1.5d", "7x", "d", "7dd"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


@pytest.mark.parametrize(
    ("text", "count"), [("10GiB", 10 << 30), ("2GB", 2 * 1000**3), ("64MiB", 64 << 20)]
)
def test_sizes(text: str, count: int) -> None:
    assert size(text) == count
