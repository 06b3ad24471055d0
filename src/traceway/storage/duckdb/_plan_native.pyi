"""Types of the C module built from ``_plan_native.c`` (see ``batch_plan``)."""

from typing import Any

def plan(
    count: int,
    trace_ids: bytes | memoryview,
    span_ids: bytes | memoryview,
    parent_ids: bytes | memoryview,
    parent_validity: bytes | memoryview | None,
    parent_bit: int,
    starts: bytes | memoryview,
    stored_rows: bytes | memoryview,
    /,
) -> tuple[Any, ...] | None: ...
