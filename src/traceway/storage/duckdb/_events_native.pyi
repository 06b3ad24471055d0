"""Types of the C module built from ``_events_native.c`` (see ``event_columns``)."""

from typing import Any, Literal

def split(
    count: int,
    offsets: bytes | memoryview,
    data: bytes | memoryview,
    validity: bytes | memoryview | None,
    bit: int,
    starts: bytes | memoryview,
    /,
) -> tuple[Any, ...] | Literal[False] | None: ...
def remember(key: bytes, most: int, /) -> None: ...
def known(key: bytes, /) -> bool: ...
def forget() -> None: ...
