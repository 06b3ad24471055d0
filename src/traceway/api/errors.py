"""The API's errors and their one mapping to HTTP statuses and Jaeger's error envelope.

::

    ApiError              an answer other than 200 (status_code, message)
     ├── BadParameter     400: a query parameter or path segment is malformed
     └── NotFound         404: the thing asked for does not exist

Foreign errors are translated here too: ``InvalidQueryError`` (the query service
refused a query) → 400, ``StorageError`` → 500, and under ``/api/`` Starlette's
``HTTPException`` (no such path: 404, wrong method: 405) → its status, anything
else → 500. Every error body there is
``{"data": null, ..., "errors": [{"code": N, "msg": "..."}]}``; paths outside
``/api/`` (the web UI) keep Starlette's plain-text answers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ExceptionHandler

from traceway.api.envelope import envelope_response
from traceway.query.service import InvalidQueryError
from traceway.storage.api import StorageError

__all__ = [
    "API_PREFIX",
    "ApiError",
    "BadParameter",
    "NotFound",
    "error_response",
    "exception_handlers",
]

API_PREFIX = "/api/"

_log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answer of the API, with its HTTP status."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadParameter(ApiError):
    """A request parameter that cannot be parsed; the message names it and its value."""

    status_code = 400

    def __init__(self, param: str, problem: str) -> None:
        super().__init__(f"unable to parse param '{param}': {problem}")
        self.param = param


class NotFound(ApiError):
    status_code = 404


def error_response(status_code: int, message: str) -> Response:
    """Jaeger's error envelope with one error."""
    return envelope_response(
        None, status_code=status_code, errors=[{"code": status_code, "msg": message}]
    )


def _status_and_message(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, ApiError):
        return exc.status_code, exc.message
    if isinstance(exc, InvalidQueryError):
        return 400, str(exc)
    if isinstance(exc, StorageError):
        return 500, f"storage error: {exc}"
    return 500, "internal server error"


async def _handle(request: Request, exc: Exception) -> Response:
    status_code, message = _status_and_message(exc)
    if status_code >= 500:
        _log.error("%s %s failed: %s", request.method, request.url.path, message, exc_info=exc)
    return error_response(status_code, message)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


async def _handle_http(request: Request, exc: Exception) -> Response:
    # Registered app-wide, so it also sees the routes mounted next to the API (the
    # web UI); those keep Starlette's own answer.
    if not isinstance(exc, HTTPException):
        raise exc
    if _is_api(request):
        response = error_response(exc.status_code, exc.detail)
    elif exc.status_code in {204, 304}:
        response = Response(status_code=exc.status_code)
    else:
        response = PlainTextResponse(exc.detail, status_code=exc.status_code)
    response.headers.update(exc.headers or {})
    return response


async def _handle_unexpected(request: Request, exc: Exception) -> Response:
    if _is_api(request):
        return error_response(500, "internal server error")
    return PlainTextResponse("Internal Server Error", status_code=500)


def exception_handlers() -> Mapping[type[Exception], ExceptionHandler]:
    """Handlers to pass to ``Starlette(exception_handlers=...)``."""
    return {
        ApiError: _handle,
        InvalidQueryError: _handle,
        StorageError: _handle,
        HTTPException: _handle_http,
        Exception: _handle_unexpected,
    }
