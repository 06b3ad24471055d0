"""Where spans are kept: the contracts (``api``) and the backends that fulfil them."""

from __future__ import annotations

from pathlib import Path

from traceway.storage.api import StorageError, TraceStore

__all__ = ["StorageError", "TraceStore", "open_store"]


def open_store(path: Path | None) -> TraceStore:
    """Open the DuckDB store at ``path`` (created if missing), or in memory when None.

    Raises ``StorageError`` when the file cannot be opened (locked by another
    process, read-only directory, not a DuckDB file).
    """
    # Imported here so that users of the memory backend do not pay for loading DuckDB.
    from traceway.storage.duckdb import DuckDBStore

    return DuckDBStore(path)
