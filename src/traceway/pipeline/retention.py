"""Retention: delete traces older than a maximum age, and the oldest while over a size.

Every ``interval_s`` a round runs on a thread of its own: first it deletes every
trace whose last span started more than ``max_age_ns`` ago; then, while
``storage_bytes()`` exceeds ``max_bytes``, it deletes the oldest tenth of the stored
time range, then the next tenth, and so on, but never a trace with a span in the
newest ``keep_newest_ns``. Deletes are serialised with commits by the store itself
(``TraceWriter.delete_traces_before``), so they never race an insert. A failing
round (a full disk makes the delete's commit fail, and the store rolls it back) is
logged in one line and tried again after 1 s, then 2, 4, ... up to ``interval_s``,
so retention resumes soon after the cause is gone; the server keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from traceway.storage.api import StorageError, TraceWriter

__all__ = ["RetentionPolicy", "RetentionTask"]

log = logging.getLogger(__name__)

_HOUR_NS = 3600 * 10**9
SIZE_STEPS = 10
"""A size round deletes the stored time range in this many steps, oldest first."""
FIRST_RETRY_S = 1.0
"""After a failed round the next one comes this soon, then twice as late each time."""


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long and how much to keep; ``None`` keeps without that limit."""

    max_age_ns: int | None = None
    max_bytes: int | None = None
    interval_s: float = 60.0
    keep_newest_ns: int = _HOUR_NS

    @property
    def enabled(self) -> bool:
        return self.max_age_ns is not None or self.max_bytes is not None


class RetentionTask:
    """Runs retention rounds until stopped; ``start`` and ``stop`` are idempotent."""

    def __init__(
        self,
        store: TraceWriter,
        policy: RetentionPolicy,
        *,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if policy.interval_s <= 0:
            raise ValueError("the retention interval must be positive")
        self._store = store
        self._policy = policy
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        self._stopping = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="traceway-retention")
        self.deleted_spans = 0
        self.failed_rounds = 0

    def start(self) -> None:
        """Start rounds on the running event loop (the first one at once)."""
        if self._task is None and not self._stopping and self._policy.enabled:
            self._wakeup = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name="traceway-retention"
            )

    async def stop(self) -> None:
        """Let a running round finish, then stop; harmless when not started or stopped."""
        self._stopping = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        failures_in_a_row = 0
        while not self._stopping:
            try:
                self.deleted_spans += await loop.run_in_executor(self._executor, self.run_round)
            except Exception as exc:
                # The failed delete was rolled back (a size round's earlier steps stay
                # done) and ingest goes on; the cause may pass (a disk freed): retry soon.
                self.failed_rounds += 1
                failures_in_a_row += 1
                delay = self._retry_delay(failures_in_a_row)
                if isinstance(exc, StorageError):
                    log.error("retention round failed: %s; trying again in %gs", exc, delay)
                else:
                    log.exception("retention round failed; trying again in %gs", delay)
            else:
                if failures_in_a_row:
                    log.info("retention round succeeded after %d failed", failures_in_a_row)
                failures_in_a_row = 0
                delay = self._policy.interval_s
            if self._wakeup is not None and not self._stopping:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), delay)

    def _retry_delay(self, failures_in_a_row: int) -> float:
        """1 s after the first failure, doubling, never later than a normal round."""
        backoff: float = FIRST_RETRY_S * 2.0 ** min(failures_in_a_row - 1, 30)
        return min(backoff, self._policy.interval_s)

    def run_round(self) -> int:
        """One round, blocking; the number of spans deleted. Raises ``StorageError``."""
        now = self._clock()
        deleted = 0
        max_age = self._policy.max_age_ns
        if max_age is not None:
            count = self._store.delete_traces_before(now - max_age)
            if count:
                log.info(
                    "retention: deleted %d spans of traces older than %s",
                    count,
                    _age(max_age),
                )
            deleted += count
        if self._policy.max_bytes is not None:
            deleted += self._shrink_to(self._policy.max_bytes, now - self._policy.keep_newest_ns)
        return deleted

    def _shrink_to(self, max_bytes: int, floor_ns: int) -> int:
        """Delete the oldest traces step by step until the store fits in ``max_bytes``."""
        size = self._store.storage_bytes()
        if size <= max_bytes:
            return 0
        oldest = self._store.oldest_trace_start_ns()
        if oldest is None or oldest >= floor_ns:
            log.warning(
                "retention: the store takes %d bytes, over the %d allowed, but holds only "
                "traces of the last %s, which are kept",
                size,
                max_bytes,
                _age(self._policy.keep_newest_ns),
            )
            return 0
        step = max((floor_ns - oldest) // SIZE_STEPS, 1)
        cutoff = oldest
        deleted = 0
        while size > max_bytes and cutoff < floor_ns:
            cutoff = min(cutoff + step, floor_ns)
            deleted += self._store.delete_traces_before(cutoff)
            size = self._store.storage_bytes()
        log.info(
            "retention: deleted %d spans of traces that started before %s to keep the store "
            "under %d bytes; it now takes %d",
            deleted,
            time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(cutoff // 10**9)),
            max_bytes,
            size,
        )
        return deleted


def _age(nanos: int) -> str:
    hours = nanos / _HOUR_NS
    return f"{hours / 24:g}d" if hours >= 24 else f"{hours:g}h"
