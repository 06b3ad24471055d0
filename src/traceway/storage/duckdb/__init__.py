"""The default backend: every span in one embedded DuckDB file."""

from __future__ import annotations

from traceway.storage.duckdb.store import DuckDBStore

__all__ = ["DuckDBStore"]
