"""What a DuckDB trace file keeps across closing, reopening and a killed process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.storage.fixture_data import load_spans
from traceway.model import Span, Trace
from traceway.storage.api import StorageError, TraceQuery
from traceway.storage.duckdb import DuckDBStore

REPO_ROOT = Path(__file__).resolve().parents[3]


def _traces_of(spans: list[Span]) -> list[Trace]:
    by_trace: dict[str, list[Span]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    return [
        Trace(trace_id, tuple(sorted(group, key=lambda s: (s.start_time_unix_nano, s.span_id))))
        for trace_id, group in sorted(by_trace.items())
    ]


def _stored_traces(store: DuckDBStore) -> list[Trace]:
    return sorted(store.find_traces(TraceQuery(limit=1000)), key=lambda trace: trace.trace_id)


@pytest.fixture
def writer_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A process that has written the fixture spans to a file and still holds it open."""
    path = tmp_path / "traces.duckdb"
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("write_then_wait.py")), str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "written\n"
        yield process, path
    finally:
        process.kill()
        process.communicate()


def test_reopening_the_file_keeps_every_span(tmp_path: Path) -> None:
    path = tmp_path / "traces.duckdb"
    with DuckDBStore(path) as store:
        store.write_spans(load_spans())
        services = store.get_services()
    with DuckDBStore(path) as reopened:
        assert _stored_traces(reopened) == _traces_of(load_spans())
        assert reopened.get_services() == services


def test_spans_survive_sigkill_right_after_write_returned(
    writer_process: tuple[subprocess.Popen[str], Path],
) -> None:
    process, path = writer_process
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    with DuckDBStore(path) as reopened:
        assert _stored_traces(reopened) == _traces_of(load_spans())


def test_a_file_in_use_by_another_process_is_refused_clearly(
    writer_process: tuple[subprocess.Popen[str], Path],
) -> None:
    _, path = writer_process
    with pytest.raises(StorageError, match=r"(?i)lock.*another traceway process"):
        DuckDBStore(path)
