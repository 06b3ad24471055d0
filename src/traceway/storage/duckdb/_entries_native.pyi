"""Types of the C module built from ``_entries_native.c`` (see ``attribute_columns``)."""

from typing import Any

def split(
    count: int,
    repeats: int,
    list_offsets: bytes | memoryview,
    child_offset: int,
    entry_offsets: bytes | memoryview,
    data: bytes | memoryview,
    /,
) -> tuple[Any, ...] | None: ...
