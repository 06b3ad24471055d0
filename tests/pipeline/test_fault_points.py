"""The commit path's test-only fault points pause where they say, and only when asked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from traceway.model import Span
from traceway.pipeline.commit import CommitPipeline
from traceway.pipeline.fault_points import (
    PAUSE_AFTER_COMMIT,
    PAUSE_BEFORE_COMMIT,
    PAUSED_COMMITS,
    CommitFaults,
)


def make_spans(trace: int, count: int = 2) -> list[Span]:
    return [
        Span(f"{trace:032x}", f"{i + 1:016x}", "op", 1_000 + i, 2_000 + i) for i in range(count)
    ]


class ListWriter:
    concurrent_writes = 1

    def __init__(self) -> None:
        self.traces: list[set[str]] = []

    def write_spans(self, spans: Sequence[Span]) -> None:
        self.traces.append({span.trace_id for span in spans})

    def close(self) -> None:
        pass


async def _until_exists(marker: Path) -> dict[str, object]:
    async with asyncio.timeout(10):
        while not marker.exists():
            await asyncio.sleep(0.005)
    content: dict[str, object] = json.loads(marker.read_text())
    return content


def test_no_fault_points_unless_the_environment_names_a_marker(tmp_path: Path) -> None:
    assert not CommitFaults.from_environment({}).enabled
    faults = CommitFaults.from_environment(
        {PAUSE_AFTER_COMMIT: str(tmp_path / "m"), PAUSED_COMMITS: "3, 5"}
    )
    assert faults.enabled
    assert (faults.before_commit, faults.after_commit) == (None, tmp_path / "m")
    assert faults.commits == {3, 5}
    with pytest.raises(ValueError, match=PAUSED_COMMITS):
        CommitFaults.from_environment({PAUSE_BEFORE_COMMIT: "m", PAUSED_COMMITS: "0"})
    with pytest.raises(ValueError, match=PAUSED_COMMITS):
        CommitFaults.from_environment({PAUSE_BEFORE_COMMIT: "m", PAUSED_COMMITS: "2;3"})


async def test_the_pipeline_reads_its_fault_points_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "before.json"
    monkeypatch.setenv(PAUSE_BEFORE_COMMIT, str(marker))
    writer = ListWriter()
    pipeline = CommitPipeline(writer)
    monkeypatch.delenv(PAUSE_BEFORE_COMMIT)  # read once, at construction
    pipeline.start()
    request = asyncio.create_task(pipeline.consume(make_spans(1)))
    assert (await _until_exists(marker))["commit"] == 1
    marker.unlink()
    await asyncio.wait_for(request, 10)
    await pipeline.shutdown()


async def test_pause_before_commit_holds_the_batch_back_from_storage(tmp_path: Path) -> None:
    marker = tmp_path / "before.json"
    writer = ListWriter()
    pipeline = CommitPipeline(
        writer, faults=CommitFaults(before_commit=marker, commits=frozenset({2}))
    )
    pipeline.start()
    await pipeline.consume(make_spans(1))
    second = asyncio.create_task(pipeline.consume(make_spans(2, count=3)))
    paused = await _until_exists(marker)
    assert paused == {
        "moment": "before commit",
        "commit": 2,
        "spans": 3,
        "trace_ids": [f"{2:032x}"],
    }
    await asyncio.sleep(0.05)
    assert writer.traces == [{f"{1:032x}"}], "the paused batch reached storage"
    assert not second.done()
    marker.unlink()
    await asyncio.wait_for(second, 10)
    assert writer.traces[-1] == {f"{2:032x}"}
    await pipeline.shutdown()


async def test_pause_after_commit_holds_back_the_acknowledgement(tmp_path: Path) -> None:
    marker = tmp_path / "after.json"
    writer = ListWriter()
    pipeline = CommitPipeline(writer, faults=CommitFaults(after_commit=marker))
    pipeline.start()
    request = asyncio.create_task(pipeline.consume(make_spans(7)))
    paused = await _until_exists(marker)
    assert (paused["moment"], paused["trace_ids"]) == ("after commit", [f"{7:032x}"])
    assert writer.traces == [{f"{7:032x}"}]
    await asyncio.sleep(0.05)
    assert not request.done(), "acknowledged while paused after the commit"
    marker.unlink()
    await asyncio.wait_for(request, 10)
    # Only the chosen commit pauses.
    await asyncio.wait_for(pipeline.consume(make_spans(8)), 10)
    assert not marker.exists()
    await pipeline.shutdown()


class SideBySideListWriter(ListWriter):
    concurrent_writes = 2


async def test_a_commit_pauses_after_by_its_own_number_while_another_runs_beside_it(
    tmp_path: Path,
) -> None:
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    writer = SideBySideListWriter()
    faults = CommitFaults(before_commit=before, after_commit=after)
    pipeline = CommitPipeline(writer, faults=faults, second_commit_spans=2)
    pipeline.start()
    first = asyncio.create_task(pipeline.consume(make_spans(1)))
    assert (await _until_exists(before))["commit"] == 1
    # Commit 2 starts beside the paused one and goes through: it is not listed.
    await asyncio.wait_for(pipeline.consume(make_spans(2)), 10)
    assert writer.traces == [{f"{2:032x}"}]
    before.unlink()
    paused = await _until_exists(after)
    assert (paused["commit"], paused["trace_ids"]) == (1, [f"{1:032x}"])
    assert not first.done()
    after.unlink()
    await asyncio.wait_for(first, 10)
    await pipeline.shutdown()
