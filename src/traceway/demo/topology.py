"""The demo's processes, where each listens, and what each calls.

Every process reads addresses from its environment, as in a container deployment: a
service listens on its own ``*_ADDR`` and reaches the others through theirs, e.g. the
user service listens on ``USER_SERVICE_ADDR`` and calls ``AUTH_SERVICE_ADDR``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "AUTH",
    "GATEWAY",
    "HOST",
    "ORDER",
    "PARTNER",
    "PARTNER_URL_VARIABLE",
    "SERVICES",
    "SHIPPING",
    "USER",
    "DemoProcess",
    "address_from",
    "by_name",
    "start_order",
    "target_of",
]

HOST = "127.0.0.1"
"""Where the demo's processes listen and are called."""


@dataclass(frozen=True)
class DemoProcess:
    """One process of the demo system."""

    name: str
    """Short name, as in ``--fault NAME.error=...`` and ``--down NAME``."""
    service_name: str
    """``OTEL_SERVICE_NAME``: how it appears in traces."""
    module: str
    """Run as ``python -m MODULE``."""
    address_variable: str
    """The variable holding its ``host:port``, for itself and for its callers."""
    default_port: int
    port_offset: int | None
    """Its port is ``--base-port`` plus this; None for the gateway (``--gateway-port``)."""
    calls: tuple[str, ...]
    """Short names of the processes it calls."""
    description: str
    """How it serves, for people: ``gRPC, grpc.aio``."""
    traced: bool = True


GATEWAY = DemoProcess(
    "gateway", "gateway", "traceway.demo.gateway", "GATEWAY_ADDR", 8080, None,
    ("user", "auth", "order"), "HTTP, Starlette + uvicorn",
)  # fmt: skip
USER = DemoProcess(
    "user", "user-service", "traceway.demo.services.user", "USER_SERVICE_ADDR", 50051, 0,
    ("auth",), "gRPC, thread pool",
)  # fmt: skip
AUTH = DemoProcess(
    "auth", "auth-service", "traceway.demo.services.auth", "AUTH_SERVICE_ADDR", 50052, 1,
    (), "gRPC, grpc.aio",
)  # fmt: skip
ORDER = DemoProcess(
    "order", "order-service", "traceway.demo.services.order", "ORDER_SERVICE_ADDR", 50053, 2,
    ("shipping",), "gRPC, thread pool",
)  # fmt: skip
SHIPPING = DemoProcess(
    "shipping", "shipping-service", "traceway.demo.services.shipping", "SHIPPING_SERVICE_ADDR",
    50054, 3, ("partner",), "gRPC, grpc.aio",
)  # fmt: skip
PARTNER = DemoProcess(
    "partner", "shipping-partner", "traceway.demo.partner", "PARTNER_ADDR", 50055, 4,
    (), "HTTP, outside the traced system", traced=False,
)  # fmt: skip

SERVICES: tuple[DemoProcess, ...] = (GATEWAY, USER, AUTH, ORDER, SHIPPING, PARTNER)

PARTNER_URL_VARIABLE = "PARTNER_URL"
"""The partner's base URL as the shipping service calls it (``http://host:port``)."""


def by_name(name: str) -> DemoProcess:
    """The process with this short name."""
    for process in SERVICES:
        if process.name == name:
            return process
    raise KeyError(name)


def start_order() -> list[list[DemoProcess]]:
    """Waves of processes, each calling only processes of earlier waves.

    With ports chosen by the system (port 0) a process's callers learn its address only
    once it listens, so each wave waits for the one before.
    """
    waves: list[list[DemoProcess]] = []
    placed: set[str] = set()
    remaining = list(SERVICES)
    while remaining:
        wave = [p for p in remaining if all(callee in placed for callee in p.calls)]
        if not wave:
            raise ValueError("the demo's call graph has a cycle")
        waves.append(wave)
        placed.update(p.name for p in wave)
        remaining = [p for p in remaining if p.name not in placed]
    return waves


def target_of(process: DemoProcess, environ: Mapping[str, str] = os.environ) -> str:
    """``host:port`` to reach ``process`` at, from its variable or its default."""
    host, port = address_from(process, environ)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def address_from(process: DemoProcess, environ: Mapping[str, str] = os.environ) -> tuple[str, int]:
    """The ``(host, port)`` of ``process`` from its variable, else 127.0.0.1 and its default."""
    value = environ.get(process.address_variable, "").strip()
    if not value:
        return "127.0.0.1", process.default_port
    host, colon, port = value.rpartition(":")
    if not colon or not port.isdigit() or not host:
        raise ValueError(
            f"{process.address_variable}={value!r} is not HOST:PORT (e.g. 127.0.0.1:"
            f"{process.default_port})"
        )
    return host.strip("[]"), int(port)
