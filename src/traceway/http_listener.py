"""Serve an ASGI app with uvicorn inside a process that owns its signals and its sockets.

Used by ``traceway serve`` (API, UI, OTLP/HTTP, Jaeger and Zipkin receivers) and by the
demo's HTTP services. The socket is bound by the caller, so that port 0 can be resolved
and a port in use is reported before anything starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

__all__ = ["HttpListener", "listen_tcp"]


class _EmbeddedUvicorn(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen_tcp(host: str, port: int) -> socket.socket:
    """A listening, non-blocking socket on ``host:port`` (0 for any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on connections of such a
    # socket, and without it a response written in two parts (headers, body) waited
    # some 40 ms for the client's delayed ACK - every API call and every export.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class HttpListener:
    """One uvicorn server on one bound socket; ``stop`` lets running requests finish."""

    def __init__(
        self,
        app: ASGIApp,
        sock: socket.socket,
        *,
        tls: tuple[Path, Path] | None = None,
        graceful_shutdown_s: int | None = None,
    ) -> None:
        cert, key = tls or (None, None)
        config = uvicorn.Config(
            app,
            # httptools (C) rather than h11 (pure Python): h11 re-buffers each body chunk,
            # which cost ~1.5 us of the event loop's time per ingested span.
            http="httptools",
            log_level="warning",
            lifespan="off",
            access_log=False,
            ssl_certfile=cert,
            ssl_keyfile=key,
            timeout_graceful_shutdown=graceful_shutdown_s,
        )
        self._server = _EmbeddedUvicorn(config)
        self._socket = sock
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        bound: int = self._socket.getsockname()[1]
        return bound

    async def start(self) -> None:
        """Return once the server accepts connections; raise ``OSError`` if it cannot."""
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise OSError(f"HTTP listener on {self._socket.getsockname()} did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is not None:
            self._server.should_exit = True
            await self._task
            self._task = None
        self._socket.close()
