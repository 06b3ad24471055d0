"""Reading request bodies within a limit, with and without gzip."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import pytest

from traceway.receivers.http_body import (
    BodyError,
    BodyTooLargeError,
    UnsupportedEncodingError,
    read_body,
)


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_plain_and_gzip_bodies_are_read_whole() -> None:
    data = bytes(range(256)) * 100
    assert await read_body(chunks(data), "", 1 << 20) == data
    assert await read_body(chunks(gzip.compress(data)), "gzip", 1 << 20) == data
    assert await read_body(chunks(gzip.compress(data)), " GZIP ", 1 << 20) == data


async def test_limit_applies_after_decompression() -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)
    with pytest.raises(BodyTooLargeError, match="limit of 100000 bytes"):
        await read_body(chunks(bomb), "gzip", 100_000)
    with pytest.raises(BodyTooLargeError):
        await read_body(chunks(b"x" * 100_001), "identity", 100_000)
    assert await read_body(chunks(b"x" * 100_000), "", 100_000) == b"x" * 100_000


async def test_broken_or_truncated_gzip_and_unknown_encodings_are_errors() -> None:
    whole = gzip.compress(b"hello" * 1000)
    with pytest.raises(BodyError, match="not valid gzip"):
        await read_body(chunks(b"plain text"), "gzip", 1 << 20)
    with pytest.raises(BodyError, match="truncated"):
        await read_body(chunks(whole[: len(whole) // 2]), "gzip", 1 << 20)
    with pytest.raises(UnsupportedEncodingError, match="'br'"):
        await read_body(chunks(b"x"), "br", 1 << 20)


async def test_empty_gzip_body_is_empty() -> None:
    assert await read_body(chunks(b""), "gzip", 10) == b""
