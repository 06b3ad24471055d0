"""The storage package's public names, which other layers import."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "traceway.storage": {"StorageError", "TraceStore", "open_store"},
    "traceway.storage.api": {
        "DependencyLink",
        "Operation",
        "OperationQuery",
        "OperationStats",
        "StatsQuery",
        "StorageError",
        "TraceQuery",
        "TraceReader",
        "TraceStore",
        "TraceWriter",
    },
    "traceway.storage.memory": {"MemoryStore"},
    "traceway.storage.duckdb": {"DuckDBStore"},
    "traceway.storage.search_text": {
        "SPAN_KIND_TAG",
        "STATUS_CODE_TAG",
        "derived_tags",
        "tag_text",
    },
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_public_names_are_listed_and_importable(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert set(module.__all__) == PUBLIC[module_name]
    for name in module.__all__:
        assert getattr(module, name) is not None
