"""Outgoing httpx calls: a CLIENT span per request, and its context in ``traceparent``.

A transport wrapper rather than opentelemetry-instrumentation-httpx: that package (as
of 0.66b) writes the old HTTP attribute names unless the process-wide
``OTEL_SEMCONV_STABILITY_OPT_IN=http`` is set before its first use, and instruments
clients by patching them. Wrapping the transport is httpx's own extension point; the
span covers one request on the wire, up to its response headers, as the HTTP semantic
conventions ask of client spans.

    client = httpx.AsyncClient(transport=AsyncTracingTransport())
    client = instrument_httpx(httpx.Client())   # wraps an existing client's transports
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import httpx
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.util.types import AttributeValue

from traceway.instrument._http import default_port, method_and_attributes
from traceway.instrument._traced import record_error

__all__ = ["AsyncTracingTransport", "TracingTransport", "instrument_httpx"]

_TRACER_NAME = "traceway.instrument.httpx"
# Query parameters the HTTP conventions say to redact in url.full: signed-URL secrets.
_SENSITIVE_QUERY_PARAMETERS = frozenset(["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"])
_REDACTED = "REDACTED"

_Client = TypeVar("_Client", httpx.Client, httpx.AsyncClient)


class TracingTransport(httpx.BaseTransport):
    """Wraps a sync transport (default ``httpx.HTTPTransport()``) with client spans."""

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        *,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.transport = transport if transport is not None else httpx.HTTPTransport()
        self._tracer = trace.get_tracer(_TRACER_NAME, tracer_provider=tracer_provider)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with _client_span(self._tracer, request) as span:
            response = self.transport.handle_request(request)
            _record_response(span, response)
            return response

    def close(self) -> None:
        self.transport.close()


class AsyncTracingTransport(httpx.AsyncBaseTransport):
    """Wraps an async transport (default ``httpx.AsyncHTTPTransport()``) with client spans."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.transport = transport if transport is not None else httpx.AsyncHTTPTransport()
        self._tracer = trace.get_tracer(_TRACER_NAME, tracer_provider=tracer_provider)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with _client_span(self._tracer, request) as span:
            response = await self.transport.handle_async_request(request)
            _record_response(span, response)
            return response

    async def aclose(self) -> None:
        await self.transport.aclose()


def instrument_httpx(client: _Client, *, tracer_provider: TracerProvider | None = None) -> _Client:
    """Wrap ``client``'s transport and mounted transports; returns the same client.

    Uses httpx's private ``_transport``/``_mounts`` (stable since httpx 0.18) because a
    client's transports cannot be replaced publicly; calling it twice is harmless.
    """
    if isinstance(client, httpx.AsyncClient):
        async_client: httpx.AsyncClient = client
        async_client._transport = _wrap_async(async_client._transport, tracer_provider)
        for pattern, mounted in async_client._mounts.items():
            if mounted is not None:
                async_client._mounts[pattern] = _wrap_async(mounted, tracer_provider)
        return client
    sync_client: httpx.Client = client
    sync_client._transport = _wrap_sync(sync_client._transport, tracer_provider)
    for pattern, mounted in sync_client._mounts.items():
        if mounted is not None:
            sync_client._mounts[pattern] = _wrap_sync(mounted, tracer_provider)
    return client


def _wrap_sync(
    transport: httpx.BaseTransport, tracer_provider: TracerProvider | None
) -> httpx.BaseTransport:
    if isinstance(transport, TracingTransport):
        return transport
    return TracingTransport(transport, tracer_provider=tracer_provider)


def _wrap_async(
    transport: httpx.AsyncBaseTransport, tracer_provider: TracerProvider | None
) -> httpx.AsyncBaseTransport:
    if isinstance(transport, AsyncTracingTransport):
        return transport
    return AsyncTracingTransport(transport, tracer_provider=tracer_provider)


@contextmanager
def _client_span(tracer: Tracer, request: httpx.Request) -> Iterator[Span]:
    method, attributes = method_and_attributes(request.method)
    attributes.update(_request_attributes(request.url))
    with tracer.start_as_current_span(
        method,
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        propagate.inject(request.headers)  # traceparent (and baggage) of this span
        try:
            yield span
        except Exception as exc:
            record_error(span, exc)
            raise


def _request_attributes(url: httpx.URL) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "url.full": str(_redacted(url)),
        "server.address": url.host,
    }
    port = url.port or default_port(url.scheme)
    if port is not None:
        attributes["server.port"] = port
    return attributes


def _redacted(url: httpx.URL) -> httpx.URL:
    if url.userinfo:
        url = url.copy_with(username=_REDACTED, password=_REDACTED)
    if any(key in _SENSITIVE_QUERY_PARAMETERS for key in url.params):
        params = [
            (key, _REDACTED if key in _SENSITIVE_QUERY_PARAMETERS else value)
            for key, value in url.params.multi_items()
        ]
        url = url.copy_with(params=params)
    return url


def _record_response(span: Span, response: httpx.Response) -> None:
    span.set_attribute("http.response.status_code", response.status_code)
    version = response.http_version.removeprefix("HTTP/")
    if version:
        span.set_attribute("network.protocol.version", version)
    if response.status_code >= 400:
        # Client spans: 4xx and 5xx are both errors of this call.
        span.set_attribute("error.type", str(response.status_code))
        span.set_status(Status(StatusCode.ERROR))
