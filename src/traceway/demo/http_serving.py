"""Serving an ASGI app of the demo (the gateway, the partner) with uvicorn until asked to stop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from traceway.demo.runtime import GRACE_S, ServiceProcess

__all__ = ["serve_http"]


class _Uvicorn(uvicorn.Server):
    """uvicorn, leaving signals to ServiceProcess (which also flushes spans)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def serve_http(app: ASGIApp, process: ServiceProcess) -> None:
    """Serve ``app`` on the process's address until it is asked to stop."""
    stop = process.stop_event()
    sock = _bind(process.host, process.port)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=int(GRACE_S),
    )
    server = _Uvicorn(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task
            raise SystemExit(f"{process.process.service_name} did not start")
        await asyncio.sleep(0.01)
    process.listening(sock.getsockname()[1])
    await stop.wait()
    server.should_exit = True
    await task
    sock.close()
