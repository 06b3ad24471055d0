"""Jaeger agent UDP receivers: ``Agent.emitBatch`` in the compact (6831) or binary (6832)
Thrift protocol, what Jaeger clients send to a local agent.

UDP has no answer, so nothing can push back on the client. Each datagram is decoded
on a worker thread and its spans go to the pipeline; a datagram is dropped and
counted when it is malformed or too large, when the pipeline refuses it (queue full,
shutting down) or when too many are already in flight, as a Jaeger agent drops what
its queue cannot take. Drops are logged at most once a minute, with their count, so
a flood of bad datagrams cannot flood the log. ``stop`` waits for the datagrams
already taken, so their spans are committed before the pipeline closes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass

from traceway.pipeline.api import RejectedSpansError, RetryLaterError, SpanConsumer
from traceway.receivers.jaeger_decode import spans_from_batch
from traceway.receivers.jaeger_thrift import (
    AgentProtocol,
    JaegerDecodeError,
    decode_agent_datagram,
)
from traceway.receivers.otlp_decode import DecodedSpans

__all__ = ["AgentStats", "JaegerAgentReceiver"]

log = logging.getLogger(__name__)

DEFAULT_MAX_IN_FLIGHT = 64
_DROP_LOG_INTERVAL_S = 60.0
_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024


@dataclass(slots=True)
class AgentStats:
    """What one agent port did since it started."""

    datagrams: int = 0
    stored_spans: int = 0
    malformed_datagrams: int = 0
    dropped_datagrams: int = 0
    rejected_spans: int = 0


class _DropLog:
    """Logs the first drop at once, then at most one summary per interval."""

    def __init__(self, where: str) -> None:
        self._where = where
        self._unlogged = 0
        self._last_logged: float | None = None

    def note(self, reason: str) -> None:
        self._unlogged += 1
        now = time.monotonic()
        if self._last_logged is not None and now - self._last_logged < _DROP_LOG_INTERVAL_S:
            return
        log.warning(
            "%s: %d datagram(s) dropped or partly rejected; the last: %s",
            self._where,
            self._unlogged,
            reason,
        )
        self._unlogged = 0
        self._last_logged = now


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, receiver: JaegerAgentReceiver) -> None:
        self._receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self._receiver.received(data)

    def error_received(self, exc: Exception) -> None:
        log.debug("Jaeger agent socket error: %s", exc)


class JaegerAgentReceiver:
    """One UDP port that takes ``emitBatch`` datagrams in one Thrift protocol."""

    def __init__(
        self,
        consumer: SpanConsumer,
        protocol: AgentProtocol,
        *,
        max_datagram_bytes: int,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self._consumer = consumer
        self._protocol = protocol
        self._max_datagram_bytes = max_datagram_bytes
        self._max_in_flight = max_in_flight
        self._transport: asyncio.DatagramTransport | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._drops = _DropLog(f"Jaeger agent ({protocol.value})")
        self.stats = AgentStats()

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0 for any free port) and return the bound port."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER_BYTES)
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise OSError(f"cannot listen on {host}:{port} (UDP): {exc.strerror}") from exc
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), sock=sock)
        self._transport = transport
        bound: int = sock.getsockname()[1]
        return bound

    async def stop(self) -> None:
        """Stop reading datagrams and let those already taken reach the pipeline."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))

    def received(self, datagram: bytes) -> None:
        self.stats.datagrams += 1
        if len(datagram) > self._max_datagram_bytes:
            self._drop(f"a datagram of {len(datagram)} bytes, over the limit")
            return
        if len(self._in_flight) >= self._max_in_flight:
            self._drop(f"{len(self._in_flight)} datagrams already in flight")
            return
        task = asyncio.create_task(self._store(datagram))
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _drop(self, reason: str) -> None:
        self.stats.dropped_datagrams += 1
        self._drops.note(reason)

    def _decode(self, datagram: bytes) -> DecodedSpans:
        return spans_from_batch(decode_agent_datagram(datagram, self._protocol))

    async def _store(self, datagram: bytes) -> None:
        try:
            decoded = await asyncio.to_thread(self._decode, datagram)
        except JaegerDecodeError as exc:
            self.stats.malformed_datagrams += 1
            self._drops.note(str(exc))
            return
        if decoded.rejected_spans:
            self.stats.rejected_spans += decoded.rejected_spans
            self._drops.note(decoded.error_message)
        if not decoded.spans:
            return
        try:
            await self._consumer.consume(decoded.spans)
        except (RetryLaterError, RejectedSpansError) as exc:
            self._drop(f"the pipeline refused {len(decoded.spans)} span(s): {exc}")
            return
        self.stats.stored_spans += len(decoded.spans)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if task.cancelled():
            return
        if (exc := task.exception()) is not None:
            # A decoder bug must not go unseen, nor stop the port: count it like bad input.
            self.stats.malformed_datagrams += 1
            self._drops.note(f"could not process a datagram: {exc!r}")
