"""gRPC plumbing the demo's services share: traced servers and channels, business
attributes from metadata, deadlines, and what to answer when a callee fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import grpc
from opentelemetry.trace import Span

from traceway.demo.faults import FaultInjector
from traceway.demo.runtime import GRACE_S, ServiceProcess
from traceway.instrument.grpc import (
    aio_client_interceptors,
    aio_server_interceptor,
    client_interceptor,
    server_interceptor,
)

__all__ = [
    "TENANT_ID_KEY",
    "USER_ID_KEY",
    "aio_channel",
    "aio_server",
    "business_attributes",
    "caller_metadata",
    "inject_faults",
    "inject_faults_async",
    "listen",
    "positive_id",
    "sync_channel",
    "sync_server",
    "time_left",
    "upstream_failure",
]

USER_ID_KEY: Final = "user-id"
TENANT_ID_KEY: Final = "tenant-id"
"""Metadata the gateway sets once it knows who calls; services pass them on."""

_logger = logging.getLogger("traceway.demo")

_FORWARDED: Final = (USER_ID_KEY, TENANT_ID_KEY)
# A callee's failure the caller passes on as it is; anything else is the caller's bug.
_PASSED_ON: Final = frozenset([grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED])


def business_attributes(span: Span, request: Any, metadata: Sequence[tuple[str, Any]]) -> None:
    """The interceptors' request hook: ``user.id`` and ``tenant.id`` on every span.

    From the caller's metadata, else from a ``user_id`` field of the request.
    """
    values = {key: value for key, value in metadata if key in _FORWARDED}
    user_id = values.get(USER_ID_KEY) or getattr(request, "user_id", "")
    if isinstance(user_id, str) and user_id:
        span.set_attribute("user.id", user_id)
    tenant_id = values.get(TENANT_ID_KEY)
    if isinstance(tenant_id, str) and tenant_id:
        span.set_attribute("tenant.id", tenant_id)


def caller_metadata(
    context: grpc.ServicerContext | grpc.aio.ServicerContext[Any, Any],
) -> tuple[tuple[str, str], ...]:
    """The business metadata of the call being served, to pass on to the next call."""
    return tuple(
        (key, value)
        for key, value in context.invocation_metadata() or ()
        if key in _FORWARDED and isinstance(value, str)
    )


def time_left(
    context: grpc.ServicerContext | grpc.aio.ServicerContext[Any, Any], budget_s: float
) -> float:
    """A callee's timeout: ``budget_s``, or less if the caller's deadline comes sooner."""
    remaining = context.time_remaining()
    if remaining is None:
        return budget_s
    return max(0.0, min(budget_s, remaining))


def upstream_failure(code: grpc.StatusCode) -> grpc.StatusCode:
    """What a service answers when a service it calls failed with ``code``.

    Unavailable and too slow are passed on (the gateway answers 503/504); any other
    failure of a callee is an internal error of the caller, not the client's fault.
    """
    return code if code in _PASSED_ON else grpc.StatusCode.INTERNAL


def positive_id(value: str, what: str, context: grpc.ServicerContext) -> int:
    """``value`` as a positive whole number; otherwise abort with INVALID_ARGUMENT."""
    text = value.strip()
    if not text.isdigit() or int(text) == 0:
        context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, f"{what} {value!r} is not a positive whole number"
        )
    return int(text)


def inject_faults(faults: FaultInjector, context: grpc.ServicerContext, method: str) -> None:
    """Add this request's injected latency, then abort if it is one that fails."""
    failure = faults.apply(_logger, context.time_remaining(), method)
    if failure is not None:
        context.abort(grpc.StatusCode.UNAVAILABLE, failure)


async def inject_faults_async(
    faults: FaultInjector, context: grpc.aio.ServicerContext[Any, Any], method: str
) -> None:
    """``inject_faults`` for a grpc.aio handler."""
    failure = await faults.apply_async(_logger, context.time_remaining(), method)
    if failure is not None:
        await context.abort(grpc.StatusCode.UNAVAILABLE, failure)


def listen(server: grpc.Server | grpc.aio.Server, host: str, port: int) -> int:
    """Add an insecure port; a port in use is an error that names it."""
    try:
        return server.add_insecure_port(f"{host}:{port}")
    except RuntimeError as exc:
        raise SystemExit(f"cannot listen on {host}:{port}: {exc}") from None


def run_sync_server(server: grpc.Server, process: ServiceProcess) -> None:
    """Serve on the process's address until it is asked to stop, then drain."""
    port = listen(server, process.host, process.port)
    server.start()
    process.listening(port)
    process.wait()
    server.stop(GRACE_S).wait()


async def run_aio_server(
    server: grpc.aio.Server, process: ServiceProcess, stop: asyncio.Event
) -> None:
    """Serve on the process's address until ``stop`` is set, then drain."""
    port = listen(server, process.host, process.port)
    await server.start()
    process.listening(port)
    await stop.wait()
    await server.stop(GRACE_S)


def sync_server(max_workers: int = 8) -> grpc.Server:
    """A thread-pool ``grpc.server`` with traceway's server interceptor."""
    return grpc.server(
        ThreadPoolExecutor(max_workers=max_workers),
        interceptors=[server_interceptor(request_hook=business_attributes)],
    )


def aio_server() -> grpc.aio.Server:
    """A ``grpc.aio`` server with traceway's server interceptor."""
    return grpc.aio.server(interceptors=[aio_server_interceptor(request_hook=business_attributes)])


def sync_channel(target: str) -> grpc.Channel:
    """A traced channel for a thread-pool service."""
    channel = grpc.insecure_channel(target)
    return grpc.intercept_channel(
        channel, client_interceptor(target=target, request_hook=business_attributes)
    )


def aio_channel(target: str) -> grpc.aio.Channel:
    """A traced channel for a ``grpc.aio`` service or the gateway."""
    return grpc.aio.insecure_channel(
        target,
        interceptors=aio_client_interceptors(target=target, request_hook=business_attributes),
    )
