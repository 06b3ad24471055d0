"""Who may send spans and who may read them: shared-secret tokens, checked in constant time.

Ingest (OTLP/HTTP, Jaeger and Zipkin over HTTP, OTLP/gRPC) takes
``Authorization: Bearer <TRACEWAY_INGEST_TOKEN>``, which the OpenTelemetry exporters
send with ``OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<token>``. The UI and
API take ``Authorization: Bearer <TRACEWAY_UI_TOKEN>`` or HTTP Basic auth with the
token as the password (any user name), so that a browser can ask for it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Callable

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["TokenAuth", "is_loopback", "status_refusal", "token_matches"]

# Paths a load balancer or supervisor probes without credentials.
_OPEN_PATHS = frozenset({"/healthz"})


def token_matches(authorization: str, token: str, *, allow_basic: bool = False) -> bool:
    """Whether an ``Authorization`` value carries ``token``, compared in constant time."""
    scheme, _, credentials = authorization.strip().partition(" ")
    presented = credentials.strip()
    if allow_basic and scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(presented, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        presented = decoded.partition(":")[2]
    elif scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.encode(), token.encode())


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def status_refusal(scope: Scope, message: str) -> Response:
    """A 401 shaped as OTLP/HTTP shapes its errors: a ``google.rpc.Status`` (16 is
    UNAUTHENTICATED)."""
    return JSONResponse({"code": 16, "message": message}, status_code=401)


class TokenAuth:
    """Pure ASGI middleware: HTTP requests without the token get 401, in the shape
    ``refusal`` gives the message for the request (the receivers' and the Jaeger API's
    differ)."""

    def __init__(
        self,
        app: ASGIApp,
        token: str,
        *,
        realm: str,
        allow_basic: bool,
        refusal: Callable[[Scope, str], Response] = status_refusal,
    ) -> None:
        self._app = app
        self._token = token
        self._realm = realm
        self._allow_basic = allow_basic
        self._refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        authorization = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), ""
        )
        if token_matches(authorization, self._token, allow_basic=self._allow_basic):
            await self._app(scope, receive, send)
            return
        challenge = "Basic" if self._allow_basic else "Bearer"
        message = (
            f"missing or wrong credentials for the {self._realm}: "
            f"send 'Authorization: Bearer <token>'"
        )
        response = self._refusal(scope, message)
        response.headers["www-authenticate"] = f'{challenge} realm="{self._realm}"'
        await response(scope, receive, send)
