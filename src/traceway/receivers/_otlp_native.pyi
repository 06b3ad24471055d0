"""Types of the C module built from ``_otlp_native.c`` (see ``otlp_native``)."""

from typing import Any

def decode(body: bytes, /) -> tuple[Any, ...] | None: ...
