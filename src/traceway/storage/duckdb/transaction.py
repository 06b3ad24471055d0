"""One DuckDB transaction as a ``with`` block: committed at the end, rolled back on error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import duckdb

__all__ = ["transaction"]


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Commit what the block did, or roll it back and re-raise what went wrong."""
    con.begin()
    try:
        yield
        con.commit()
    except BaseException:
        # A failed statement or commit may already have ended the transaction; the
        # error that matters is the one being re-raised.
        with suppress(duckdb.Error):
            con.rollback()
        raise
