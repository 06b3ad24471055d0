"""The gateway's root span: one SERVER span per HTTP request to an ASGI app.

A small pure-ASGI middleware rather than opentelemetry-instrumentation-asgi, because
that package (as of 0.66b) writes the old HTTP attribute names unless the process-wide
``OTEL_SEMCONV_STABILITY_OPT_IN=http`` is set before its first use; names spans after
the raw path unless the Starlette instrumentation re-matches the top-level routes at
span start (which misses routes under ``Mount``); and adds an INTERNAL span per ASGI
``send``/``receive``. Here the span is named once routing is done, from the route
Starlette matched (``scope["route"]``), with mounts' prefixes joined in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from traceway.instrument._http import method_and_attributes, split_host_port
from traceway.instrument._traced import record_error

__all__ = ["TracingMiddleware", "instrument_asgi", "route_template"]


class _HeaderGetter(Getter[Scope]):
    """Reads W3C ``traceparent``/``tracestate``/``baggage`` from ASGI's raw headers."""

    def get(self, carrier: Scope, key: str) -> list[str] | None:
        wanted = key.lower().encode("latin-1")
        values = [v.decode("latin-1") for k, v in carrier.get("headers", ()) if k.lower() == wanted]
        return values or None

    def keys(self, carrier: Scope) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier.get("headers", ())]


_GETTER = _HeaderGetter()


class TracingMiddleware:
    """Pure ASGI middleware: ``app = TracingMiddleware(app)`` or ``app.add_middleware(...)``.

    Wrapping the whole app (instrument_asgi) also sees the 500 that Starlette's
    ServerErrorMiddleware sends for an unhandled exception; inside ``add_middleware`` the
    exception is recorded but that status code is sent outside the middleware.
    """

    def __init__(self, app: ASGIApp, *, tracer_provider: TracerProvider | None = None) -> None:
        self.app = app
        self._tracer = trace.get_tracer("traceway.instrument.asgi", tracer_provider=tracer_provider)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        routes_owner = _routes_owner(scope, self.app)
        method, attributes = method_and_attributes(scope.get("method", ""))
        attributes.update(_request_attributes(scope))
        parent = propagate.extract(scope, getter=_GETTER)
        with self._tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            status_code: int | None = None
            failure: str | None = None

            async def send_with_status(message: Message) -> None:
                nonlocal status_code
                if message["type"] == "http.response.start":
                    status_code = int(message["status"])
                    span.set_attribute("http.response.status_code", status_code)
                await send(message)

            try:
                await self.app(scope, receive, send_with_status)
            except Exception as exc:
                failure = record_error(span, exc)
                raise
            finally:
                route = route_template(scope, getattr(routes_owner, "routes", ()))
                if route is not None:
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")
                # Server spans: 5xx is an error, 4xx is the client's (status left unset).
                if failure is None and status_code is not None and status_code >= 500:
                    span.set_attribute("error.type", str(status_code))
                    span.set_status(Status(StatusCode.ERROR))


_MAX_WRAPPERS = 32


def _routes_owner(scope: Scope, app: ASGIApp) -> object:
    """The application whose routes Starlette matches the request against.

    Inside Starlette's stack (``add_middleware``) that is ``scope["app"]``. Around it,
    other middleware may wrap the application first; each of Starlette's keeps what it
    wraps as ``.app``, down to the one with ``.routes``.
    """
    if "app" in scope:
        return scope["app"]
    found: object = app
    for _ in range(_MAX_WRAPPERS):
        inner = getattr(found, "app", None)
        if hasattr(found, "routes") or inner is None:
            break
        found = inner
    return found


def instrument_asgi(app: ASGIApp, *, tracer_provider: TracerProvider | None = None) -> ASGIApp:
    """``app`` wrapped in TracingMiddleware: serve the returned app."""
    return TracingMiddleware(app, tracer_provider=tracer_provider)


def route_template(scope: Scope, routes: Iterable[BaseRoute]) -> str | None:
    """The matched route's template, with the prefixes of the mounts it sits under.

    Starlette stores the route it dispatched to in ``scope["route"]``; a route under a
    ``Mount`` overwrites the mount there, so the mounts are found by walking ``routes``.
    """
    route = scope.get("route")
    path_format = getattr(route, "path_format", None)
    if not isinstance(path_format, str):
        return None
    if isinstance(route, Mount):  # only a partial match, e.g. a mount with no sub-route
        path_format = _mount_prefix(route)
    prefix = _prefix_of(route, list(routes), "")
    return (prefix or "") + path_format


def _mount_prefix(mount: Mount) -> str:
    return mount.path_format.removesuffix("/{path}")


def _prefix_of(target: object, routes: Sequence[BaseRoute], prefix: str) -> str | None:
    for route in routes:
        if route is target:
            return prefix
        children = getattr(route, "routes", None)
        if children:
            inner = prefix + _mount_prefix(route) if isinstance(route, Mount) else prefix
            found = _prefix_of(target, list(children), inner)
            if found is not None:
                return found
    return None


def _request_attributes(scope: Scope) -> dict[str, AttributeValue]:
    scheme = str(scope.get("scheme", "http"))
    attributes: dict[str, AttributeValue] = {"url.scheme": scheme, "url.path": scope["path"]}
    query = scope.get("query_string", b"")
    if query:
        attributes["url.query"] = query.decode("latin-1")
    http_version = scope.get("http_version")
    if http_version:
        attributes["network.protocol.version"] = http_version
    headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}

    authority = _forwarded_host(headers) or headers.get(b"host")
    if authority:
        host, port = split_host_port(authority, scheme)
        attributes["server.address"] = host
        if port is not None:
            attributes["server.port"] = port
    elif scope.get("server"):
        server_host, server_port = scope["server"]
        attributes["server.address"] = server_host
        if server_port is not None:
            attributes["server.port"] = server_port

    peer = scope.get("client")
    forwarded_for = headers.get(b"x-forwarded-for", "").split(",")[0].strip()
    if forwarded_for:
        attributes["client.address"] = forwarded_for
    elif peer:
        attributes["client.address"] = peer[0]
    if peer:
        attributes["network.peer.address"] = peer[0]
        attributes["network.peer.port"] = peer[1]
    user_agent = headers.get(b"user-agent")
    if user_agent:
        attributes["user_agent.original"] = user_agent
    return attributes


def _forwarded_host(headers: dict[bytes, str]) -> str | None:
    forwarded = headers.get(b"forwarded", "")
    for element in forwarded.split(",")[0].split(";"):
        key, _, value = element.strip().partition("=")
        if key.lower() == "host" and value:
            return value.strip('"')
    return headers.get(b"x-forwarded-host", "").split(",")[0].strip() or None
