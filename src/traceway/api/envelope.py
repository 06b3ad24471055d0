"""Jaeger's response envelope: ``{"data", "total", "limit", "offset", "errors"}``.

Every answer of the Jaeger-compatible API, success or failure, has this shape
(Jaeger's ``structuredResponse`` in ``cmd/query/app/http_handler.go``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NotRequired, TypedDict

from starlette.responses import JSONResponse

__all__ = ["Envelope", "EnvelopeError", "envelope_response"]


class EnvelopeError(TypedDict):
    """One entry of ``errors``; Jaeger omits ``code`` and ``traceID`` when empty."""

    msg: str
    code: NotRequired[int]
    traceID: NotRequired[str]


class Envelope(TypedDict):
    data: object
    total: int
    limit: int
    offset: int
    errors: list[EnvelopeError] | None


def envelope_response(
    data: object,
    *,
    status_code: int = 200,
    errors: Sequence[EnvelopeError] = (),
) -> JSONResponse:
    """A JSON response in the envelope; ``total`` counts ``data`` when it is a list."""
    body: Envelope = {
        "data": data,
        "total": len(data) if isinstance(data, list) else 0,
        "limit": 0,
        "offset": 0,
        "errors": list(errors) or None,
    }
    return JSONResponse(body, status_code=status_code)
