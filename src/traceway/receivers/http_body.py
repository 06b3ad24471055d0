"""Read an HTTP request body within a size limit, decompressing gzip as it arrives.

The limit applies to the body as sent and to its decompressed size, and is checked
while reading, so an oversized upload or a gzip bomb is refused after at most
``limit`` bytes of work.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import AsyncIterator

from starlette.requests import Request

__all__ = [
    "BodyError",
    "BodyTooLargeError",
    "UnsupportedEncodingError",
    "media_type",
    "read_body",
    "read_request_body",
    "retry_after_header",
]

_GZIP_WINDOW = 16 + zlib.MAX_WBITS  # gzip header and trailer, as zlib spells it
_CHUNK = 1 << 16


class BodyError(ValueError):
    """The body could not be read as sent (bad compression)."""


class BodyTooLargeError(BodyError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than the limit of {limit} bytes")
        self.limit = limit


class UnsupportedEncodingError(BodyError):
    def __init__(self, encoding: str) -> None:
        super().__init__(
            f"Content-Encoding {encoding!r} is not supported; send gzip or an uncompressed body"
        )


def media_type(request: Request) -> str:
    """The request's Content-Type without parameters, lower case ('' when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_request_body(request: Request, limit: int) -> bytes:
    """The request's decompressed body; a declared Content-Length over ``limit`` is
    refused before a byte is read, since the limit holds for the body as sent too."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(limit)
    return await read_body(request.stream(), request.headers.get("content-encoding", ""), limit)


def retry_after_header(retry_after_s: float) -> dict[str, str]:
    """``Retry-After`` in whole seconds, at least 1, as HTTP wants it."""
    return {"Retry-After": str(max(1, math.ceil(retry_after_s)))}


async def read_body(stream: AsyncIterator[bytes], content_encoding: str, limit: int) -> bytes:
    """The whole decompressed body; raise ``BodyError`` subclasses on bad input."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return await _read_plain(stream, limit)
    if encoding in ("gzip", "x-gzip"):
        return await _read_gzip(stream, limit)
    raise UnsupportedEncodingError(content_encoding)


async def _read_plain(stream: AsyncIterator[bytes], limit: int) -> bytes:
    # Chunks are joined once at the end; a body that came in one chunk is not copied.
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(limit)
        if chunk:
            chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _read_gzip(stream: AsyncIterator[bytes], limit: int) -> bytes:
    inflater = zlib.decompressobj(_GZIP_WINDOW)
    body = bytearray()
    received = 0
    try:
        async for chunk in stream:
            received += len(chunk)
            if received > limit:
                raise BodyTooLargeError(limit)
            data = chunk
            while data:
                # Inflate at most limit+1 bytes at a time so a bomb never expands in memory.
                body += inflater.decompress(data, limit + 1 - len(body))
                if len(body) > limit:
                    raise BodyTooLargeError(limit)
                data = inflater.unconsumed_tail
        body += inflater.flush()
    except zlib.error as exc:
        raise BodyError(f"request body is not valid gzip: {exc}") from exc
    if len(body) > limit:
        raise BodyTooLargeError(limit)
    if received and not inflater.eof:
        raise BodyError("request body is truncated gzip (no end of stream)")
    return bytes(body)
