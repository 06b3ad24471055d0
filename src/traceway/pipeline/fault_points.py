"""Test-only fault points in the commit path, so crash tests kill at a known moment.

A crash test must ``kill -9`` the server at a chosen moment of a commit, not at one
that is merely likely. Environment variables, read once when the pipeline is built,
name a marker file for each moment; at that moment of each commit listed in
``TRACEWAY_FAULT_PAUSED_COMMITS`` (numbers from 1, comma-separated; default 1) the
writer thread writes the marker (JSON: moment, commit number, span count, trace ids
of the batch) and waits while it exists, so the test either kills the server then or
deletes the marker to let the commit go on (requests arriving meanwhile queue up and
share the next commit, or with a writer that takes two at once, go in beside it once
``commit.DEFAULT_SECOND_COMMIT_SPANS`` wait):

- ``TRACEWAY_FAULT_PAUSE_BEFORE_COMMIT``: the batch is taken from the queue and about
  to go to storage; nothing of it is stored (DuckDB writes nothing durable before
  COMMIT) and no request of it is acknowledged.
- ``TRACEWAY_FAULT_PAUSE_AFTER_COMMIT``: the batch is committed; no request of it is
  acknowledged yet.

Pausing at both moments of one commit brackets exactly what it wrote to the
write-ahead log, as long as no commit runs beside it. Unset, as always outside tests,
they cost one attribute test per commit.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from traceway.storage.span_batch import SpanBatch

__all__ = ["PAUSED_COMMITS", "PAUSE_AFTER_COMMIT", "PAUSE_BEFORE_COMMIT", "CommitFaults"]

PAUSE_BEFORE_COMMIT = "TRACEWAY_FAULT_PAUSE_BEFORE_COMMIT"
PAUSE_AFTER_COMMIT = "TRACEWAY_FAULT_PAUSE_AFTER_COMMIT"
PAUSED_COMMITS = "TRACEWAY_FAULT_PAUSED_COMMITS"

_POLL_S = 0.01


@dataclass(slots=True)
class CommitFaults:
    """Where a writer thread pauses: with neither marker set, never."""

    before_commit: Path | None = None
    after_commit: Path | None = None
    commits: frozenset[int] = frozenset({1})
    _commits_seen: int = field(default=0, init=False, repr=False)
    _counting: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> CommitFaults:
        """The fault points the environment asks for (usually none)."""
        before = environ.get(PAUSE_BEFORE_COMMIT)
        after = environ.get(PAUSE_AFTER_COMMIT)
        listed = environ.get(PAUSED_COMMITS, "1")
        numbers = [part.strip() for part in listed.split(",")]
        if not all(number.isdigit() and int(number) >= 1 for number in numbers):
            raise ValueError(
                f"{PAUSED_COMMITS}={listed!r} must list commit numbers from 1, like 12,13"
            )
        return cls(
            before_commit=Path(before) if before else None,
            after_commit=Path(after) if after else None,
            commits=frozenset(int(number) for number in numbers),
        )

    @property
    def enabled(self) -> bool:
        return self.before_commit is not None or self.after_commit is not None

    def reached_before_commit(self, batch: SpanBatch) -> int:
        """On a writer thread, before the batch goes to storage: the commit's number."""
        with self._counting:
            self._commits_seen += 1
            number = self._commits_seen
        if self.before_commit is not None and number in self.commits:
            _pause(self.before_commit, "before commit", number, batch)
        return number

    def reached_after_commit(self, batch: SpanBatch, number: int) -> None:
        """On a writer thread, once commit ``number`` is committed, before it is acknowledged."""
        if self.after_commit is not None and number in self.commits:
            _pause(self.after_commit, "after commit", number, batch)


def _pause(marker: Path, moment: str, commit: int, batch: SpanBatch) -> None:
    """Write ``marker`` in one step, then wait until it is gone (or the process is killed)."""
    trace_ids = sorted({trace_id.hex() for trace_id in batch.table.column("trace_id").to_pylist()})
    content = {"moment": moment, "commit": commit, "spans": len(batch), "trace_ids": trace_ids}
    partial = marker.with_name(marker.name + ".partial")
    partial.write_text(json.dumps(content))
    os.replace(partial, marker)
    while marker.exists():
        time.sleep(_POLL_S)
