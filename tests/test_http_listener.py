"""The listening sockets of traceway's HTTP servers."""

from __future__ import annotations

import asyncio
import socket

from traceway.http_listener import listen_tcp


class _NoDelayProbe(asyncio.Protocol):
    def __init__(self, found: asyncio.Future[int]) -> None:
        self._found = found

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        self._found.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        transport.close()


async def test_accepted_connections_send_without_waiting_for_acks() -> None:
    """TCP_NODELAY on every connection: else a response written as headers then body
    waits for the client's delayed ACK (some 40 ms per API call or export)."""
    sock = listen_tcp("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    found: asyncio.Future[int] = loop.create_future()
    server = await loop.create_server(lambda: _NoDelayProbe(found), sock=sock)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        assert await asyncio.wait_for(found, 10) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
