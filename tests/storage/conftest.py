"""Every storage backend under one name, so the conformance suite runs against each."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.storage.fixture_data import load_spans
from traceway.storage.api import TraceStore
from traceway.storage.duckdb import DuckDBStore
from traceway.storage.memory import MemoryStore

BACKENDS: dict[str, Callable[[Path], TraceStore]] = {
    "memory": lambda _directory: MemoryStore(),
    "duckdb": lambda directory: DuckDBStore(directory / "traces.duckdb"),
}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TraceStore]:
    """An empty store of each backend (DuckDB in a real file)."""
    opened = BACKENDS[request.param](tmp_path)
    yield opened
    opened.close()


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def loaded_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TraceStore]:
    """A store of each backend holding the fixture traces; tests must not write to it."""
    opened = BACKENDS[request.param](tmp_path_factory.mktemp(request.param))
    spans = load_spans()
    # Two batches, so resources and scopes already stored meet new spans.
    opened.write_spans(spans[: len(spans) // 2])
    opened.write_spans(spans[len(spans) // 2 :])
    yield opened
    opened.close()
