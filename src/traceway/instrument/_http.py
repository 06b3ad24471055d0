"""HTTP semantic conventions (stable, v1.2x+) shared by the server and client spans."""

from __future__ import annotations

import functools
import os

from opentelemetry.util.types import AttributeValue

__all__ = ["default_port", "known_methods", "method_and_attributes", "split_host_port"]

_DEFAULT_METHODS = frozenset(
    ["CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"]
)


@functools.cache
def known_methods() -> frozenset[str]:
    """RFC 9110 methods plus PATCH, or ``OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS``.

    Read once, on first use (a span per request would otherwise re-parse it).
    """
    configured = os.environ.get("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS", "")
    names = frozenset(m.strip().upper() for m in configured.split(",") if m.strip())
    return names or _DEFAULT_METHODS


def method_and_attributes(method: str) -> tuple[str, dict[str, AttributeValue]]:
    """The ``{method}`` of the span name and the ``http.request.method*`` attributes."""
    attributes: dict[str, AttributeValue]
    if method in known_methods():
        attributes = {"http.request.method": method}
        return method, attributes
    # Unknown methods would make span names and metrics unbounded.
    attributes = {"http.request.method": "_OTHER", "http.request.method_original": method}
    return "HTTP", attributes


def default_port(scheme: str) -> int | None:
    return {"http": 80, "ws": 80, "https": 443, "wss": 443}.get(scheme)


def split_host_port(value: str, scheme: str) -> tuple[str, int | None]:
    """``host[:port]`` (IPv6 in brackets) to host and port, the scheme's port if none."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = value.partition(":")
    if port_text.isdigit():
        return host, int(port_text)
    return host, default_port(scheme)
