"""Fixtures that start ``traceway serve`` as a real subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.serve_process import ServeProcess, start_serve


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    """A ``traceway serve`` with a DuckDB file in a fresh data directory."""
    server = start_serve(tmp_path, tmp_path / "data")
    yield server
    server.kill()
