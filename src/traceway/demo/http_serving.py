"""Serving an ASGI app of the demo (the gateway, the partner) with uvicorn until asked to stop."""

from __future__ import annotations

from starlette.types import ASGIApp

from traceway.demo.runtime import GRACE_S, ServiceProcess
from traceway.http_listener import HttpListener, listen_tcp

__all__ = ["serve_http"]


async def serve_http(app: ASGIApp, process: ServiceProcess) -> None:
    """Serve ``app`` on the process's address until it is asked to stop."""
    stop = process.stop_event()
    try:
        sock = listen_tcp(process.host, process.port)
    except OSError as exc:
        raise SystemExit(str(exc)) from None
    listener = HttpListener(app, sock, graceful_shutdown_s=int(GRACE_S))
    try:
        await listener.start()
    except OSError:
        raise SystemExit(f"{process.process.service_name} did not start") from None
    process.listening(listener.port)
    await stop.wait()
    await listener.stop()
