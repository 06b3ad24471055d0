"""What a Python service imports to be traced: ``traceway.instrument.configure()``.

    from traceway import instrument

    instrument.configure("gateway")                 # OpenTelemetry SDK, OTLP, exit hooks
    app = instrument.instrument_asgi(app)           # root SERVER span per HTTP request
    client = instrument.instrument_httpx(client)    # CLIENT spans + traceparent outgoing
    with instrument.traced("cache lookup"): ...     # child spans

gRPC interceptors live in ``traceway.instrument.grpc``; the pytest fixture in
``traceway.testing``. The ASGI and httpx parts are imported on first use, so a service
that only speaks gRPC does not load Starlette or httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from traceway.instrument._configure import configure
from traceway.instrument._instrumentation import Instrumentation
from traceway.instrument._logging import (
    JsonFormatter,
    LogFormat,
    TextFormatter,
    install_log_record_factory,
    instrument_logging,
)
from traceway.instrument._settings import ConfigurationError
from traceway.instrument._traced import Traced, record_error, traced

if TYPE_CHECKING:
    from traceway.instrument._asgi import TracingMiddleware, instrument_asgi
    from traceway.instrument._httpx import (
        AsyncTracingTransport,
        TracingTransport,
        instrument_httpx,
    )

__all__ = [
    "AsyncTracingTransport",
    "ConfigurationError",
    "Instrumentation",
    "JsonFormatter",
    "LogFormat",
    "TextFormatter",
    "Traced",
    "TracingMiddleware",
    "TracingTransport",
    "configure",
    "install_log_record_factory",
    "instrument_asgi",
    "instrument_httpx",
    "instrument_logging",
    "record_error",
    "traced",
]

_LAZY = {
    "TracingMiddleware": "traceway.instrument._asgi",
    "instrument_asgi": "traceway.instrument._asgi",
    "AsyncTracingTransport": "traceway.instrument._httpx",
    "TracingTransport": "traceway.instrument._httpx",
    "instrument_httpx": "traceway.instrument._httpx",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'traceway.instrument' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
