"""Every acknowledged export survives a graceful stop and a ``kill -9``, also one that
lands in a commit (placed there by the pipeline's fault points), and a batch being
committed is stored whole or not at all."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.e2e.serve_process import ServeProcess, start_serve
from traceway.model import Resource, Span
from traceway.pipeline.fault_points import (
    PAUSE_AFTER_COMMIT,
    PAUSE_BEFORE_COMMIT,
    PAUSED_COMMITS,
)
from traceway.receivers.otlp_encode import encode_protobuf
from traceway.server import DATABASE_FILE
from traceway.storage import open_store

pytestmark = pytest.mark.slow

SPANS_PER_EXPORT = 50
RESOURCE = Resource({"service.name": "durability"})


def export_body(trace_number: int) -> bytes:
    trace_id = f"{trace_number:032x}"
    return encode_protobuf(
        Span(
            trace_id=trace_id,
            span_id=f"{i + 1:016x}",
            parent_span_id="" if i == 0 else "0000000000000001",
            name=f"step {i}",
            start_time_unix_nano=1_700_000_000_000_000_000 + i,
            end_time_unix_nano=1_700_000_000_000_001_000 + i,
            resource=RESOURCE,
        )
        for i in range(SPANS_PER_EXPORT)
    )


class Exporter(threading.Thread):
    """Posts one trace per export until stopped; remembers which ones were acknowledged."""

    def __init__(self, serve: ServeProcess, first_trace: int) -> None:
        super().__init__(daemon=True)
        self.url = f"{serve.otlp_http}/v1/traces"
        self.next_trace = first_trace
        self.acknowledged: list[int] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            deadline = time.monotonic() + 30
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                try:
                    response = client.post(
                        self.url,
                        content=export_body(self.next_trace),
                        headers={"Content-Type": "application/x-protobuf"},
                    )
                except httpx.HTTPError:
                    return
                if response.status_code == 200:
                    self.acknowledged.append(self.next_trace)
                self.next_trace += 1


def start_exporters(serve: ServeProcess, count: int = 3, first: int = 0) -> list[Exporter]:
    numbers = range(first, first + count)
    exporters = [Exporter(serve, first_trace=1 + n * 1_000_000) for n in numbers]
    for exporter in exporters:
        exporter.start()
    return exporters


def stop_exporters(exporters: list[Exporter]) -> list[int]:
    """Stop the exporters (after the server) and return the acknowledged traces."""
    for exporter in exporters:
        exporter.stop_event.set()
        exporter.join(timeout=30)
    return [trace for exporter in exporters for trace in exporter.acknowledged]


def ingest_then_stop(serve: ServeProcess, sig: int, after_s: float) -> list[int]:
    exporters = start_exporters(serve)
    time.sleep(after_s)
    serve.process.send_signal(sig)
    serve.process.communicate(timeout=30)
    return stop_exporters(exporters)


def wait_for(marker: Path, serve: ServeProcess, commit: int) -> list[int]:
    """Wait until the server pauses at ``marker`` in ``commit``; the paused batch's traces."""
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert serve.process.poll() is None, serve.process.communicate()[0]
        assert time.monotonic() < deadline, "the server never reached the fault point"
        time.sleep(0.01)
    paused = json.loads(marker.read_text())
    assert paused["commit"] == commit
    assert paused["spans"] == SPANS_PER_EXPORT * len(paused["trace_ids"])
    return [int(trace_id, 16) for trace_id in paused["trace_ids"]]


def stored_span_counts(db_file: Path, traces: list[int]) -> dict[int, int]:
    """Open the store as ``traceway serve`` does and count each trace's spans."""
    with closing(open_store(db_file)) as store:
        counts = {}
        for number in traces:
            trace = store.get_trace(f"{number:032x}")
            counts[number] = 0 if trace is None else len(trace.spans)
        return counts


def kill_9(serve: ServeProcess) -> None:
    serve.process.kill()
    serve.process.communicate(timeout=30)
    assert serve.process.returncode == -signal.SIGKILL


def assert_all_stored(tmp_path: Path, data_dir: Path, acknowledged: list[int]) -> None:
    assert acknowledged, "no export was acknowledged before the stop"
    again = start_serve(tmp_path, data_dir)
    try:
        missing = [
            trace
            for trace in acknowledged
            if len(again.get(f"/api/traces/{trace:032x}").json().get("data") or [[]]) != 1
        ]
        assert missing == []
        for trace in acknowledged[:: max(1, len(acknowledged) // 10)]:
            spans = again.get(f"/api/traces/{trace:032x}").json()["data"][0]["spans"]
            assert len(spans) == SPANS_PER_EXPORT
    finally:
        again.stop()


def test_sigterm_during_ingest_commits_everything_acknowledged(
    serve: ServeProcess, tmp_path: Path
) -> None:
    acknowledged = ingest_then_stop(serve, signal.SIGTERM, after_s=1.5)
    assert serve.process.returncode == 0
    assert serve.data_dir is not None
    assert_all_stored(tmp_path, serve.data_dir, acknowledged)


def test_kill_9_at_several_moments_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    acknowledged: list[int] = []
    for after_s in (0.7, 1.3, 2.1):
        serve = start_serve(tmp_path, data_dir)
        acknowledged += ingest_then_stop(serve, signal.SIGKILL, after_s=after_s)
        assert serve.process.returncode == -signal.SIGKILL
    assert_all_stored(tmp_path, data_dir, acknowledged)


PAUSED_COMMIT = 12
"""Far enough into the run that earlier batches were committed and acknowledged."""


@pytest.mark.parametrize(
    ("fault_point", "paused_batch_stored"),
    [(PAUSE_BEFORE_COMMIT, False), (PAUSE_AFTER_COMMIT, True)],
    ids=["in-flight", "committed-not-acknowledged"],
)
def test_kill_9_at_a_chosen_moment_of_a_commit(
    tmp_path: Path, fault_point: str, paused_batch_stored: bool
) -> None:
    data_dir = tmp_path / "data"
    marker = tmp_path / "paused.json"
    env = {fault_point: str(marker), PAUSED_COMMITS: str(PAUSED_COMMIT)}
    serve = start_serve(tmp_path, data_dir, env=env)
    exporters = start_exporters(serve)
    try:
        paused = wait_for(marker, serve, PAUSED_COMMIT)
    finally:
        kill_9(serve)
        acknowledged = stop_exporters(exporters)

    assert not set(paused) & set(acknowledged), "a batch was acknowledged before its commit"
    assert_all_stored(tmp_path, data_dir, acknowledged)
    counts = stored_span_counts(data_dir / DATABASE_FILE, paused)
    expected = SPANS_PER_EXPORT if paused_batch_stored else 0
    assert counts == dict.fromkeys(paused, expected)


def test_a_commit_torn_by_a_crash_is_stored_whole_or_not_at_all(tmp_path: Path) -> None:
    """Bracket one commit of several exports between two pauses to learn which bytes of
    the write-ahead log it wrote, kill -9, then cut the log inside those bytes, as a kill
    between two of the commit's writes would leave it: the store opens, the batch is all
    there or all gone, and every acknowledged export is there."""
    data_dir = tmp_path / "data"
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    gather, torn = PAUSED_COMMIT, PAUSED_COMMIT + 1
    env = {
        PAUSE_BEFORE_COMMIT: str(before),
        PAUSE_AFTER_COMMIT: str(after),
        PAUSED_COMMITS: f"{gather},{torn}",
    }
    wal = data_dir / f"{DATABASE_FILE}.wal"
    serve = start_serve(tmp_path, data_dir, env=env)
    exporters = start_exporters(serve)
    try:
        # While one commit is held, more exporters start; their first requests queue up
        # and the next commit takes them together.
        wait_for(before, serve, gather)
        exporters += start_exporters(serve, first=len(exporters))
        time.sleep(1)
        before.unlink()
        wait_for(after, serve, gather)
        after.unlink()
        paused = wait_for(before, serve, torn)
        wal_before = wal.stat().st_size
        before.unlink()
        assert wait_for(after, serve, torn) == paused
        wal_after = wal.stat().st_size
    finally:
        kill_9(serve)
        acknowledged = stop_exporters(exporters)
    assert len(paused) >= 3, "not a group commit"
    assert not set(paused) & set(acknowledged)
    assert wal_after > wal_before, "the commit wrote nothing to the write-ahead log"

    outcomes = {}
    crashed = tmp_path / "crashed"
    shutil.copytree(data_dir, crashed)
    for cut in sorted({wal_before + 1, (wal_before + wal_after) // 2, wal_after - 1, wal_after}):
        copy = tmp_path / f"cut-{cut}"
        shutil.copytree(crashed, copy)
        os.truncate(copy / wal.name, cut)
        counts = stored_span_counts(copy / DATABASE_FILE, paused + acknowledged)
        assert [t for t in acknowledged if counts[t] != SPANS_PER_EXPORT] == []
        paused_counts = {counts[t] for t in paused}
        assert paused_counts in ({0}, {SPANS_PER_EXPORT}), f"cut at {cut}: {paused_counts}"
        outcomes[cut] = paused_counts == {SPANS_PER_EXPORT}
    # The whole commit record stores the batch; any shorter cut drops all of it.
    assert outcomes == {cut: cut == wal_after for cut in outcomes}
