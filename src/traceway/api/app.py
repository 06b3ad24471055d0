"""The HTTP application of ``traceway serve``: the Jaeger-compatible API, ``/healthz``
and the web UI.

The API stays under ``/api/`` (plus ``/healthz``) and the UI's routes
(``traceway.api.ui``) elsewhere, so the two never compete for a path. Every response
carries a strict Content-Security-Policy (``traceway.ui.security_headers``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from traceway.api.errors import exception_handlers
from traceway.api.jaeger import JaegerApi
from traceway.api.ui import WebUi
from traceway.query.service import QueryService
from traceway.ui.security_headers import SecurityHeaders

__all__ = ["create_api_app"]


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_api_app(query: QueryService, *, clock_ns: Callable[[], int] = time.time_ns) -> Starlette:
    """The API application; ``clock_ns`` is "now" for default time windows (tests fix it)."""
    routes = [
        Route("/healthz", _healthz, methods=["GET"]),
        *JaegerApi(query, clock_ns).routes(),
        *WebUi(query, clock_ns).routes(),
    ]
    return Starlette(
        routes=routes,
        exception_handlers=exception_handlers(),
        middleware=[Middleware(SecurityHeaders)],
    )
