"""Writing a batch of spans: one transaction, three ``INSERT OR IGNORE ... SELECT`` from Arrow."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from traceway.model import Span
from traceway.storage.duckdb.batch import to_arrow
from traceway.storage.duckdb.transaction import transaction

__all__ = ["insert_spans"]

# Staging names are views on the writer connection only; readers never see them.
_INSERTS = (
    ("staged_resources", "resources"),
    ("staged_scopes", "scopes"),
    ("staged_spans", "spans"),
)


def _first_of_each(spans: Sequence[Span]) -> list[Span]:
    """The batch without repeats of a (trace id, span id): the first one stays, as in storage."""
    unique: dict[tuple[str, str], Span] = {}
    for span in spans:
        unique.setdefault((span.trace_id, span.span_id), span)
    return list(unique.values())


def insert_spans(con: duckdb.DuckDBPyConnection, spans: Sequence[Span]) -> None:
    """Insert ``spans`` and their resources and scopes, committed when this returns.

    Rows already stored are left as they are (the primary keys make it idempotent).
    """
    batch = to_arrow(_first_of_each(spans))
    staged = {
        "staged_resources": batch.resources,
        "staged_scopes": batch.scopes,
        "staged_spans": batch.spans,
    }
    try:
        for name, table in staged.items():
            con.register(name, table)
        with transaction(con):
            for source, target in _INSERTS:
                # Both names are constants of this module, not values.
                con.execute(f"INSERT OR IGNORE INTO {target} BY NAME SELECT * FROM {source}")  # noqa: S608
    finally:
        for name in staged:
            con.unregister(name)
