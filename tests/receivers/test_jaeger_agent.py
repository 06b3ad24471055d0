"""Jaeger agent UDP ports: datagrams in, spans out, bad ones counted, never a crash."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable, Sequence

import pytest

from tests.receivers.jaeger_payloads import client_datagram
from traceway.model import Span
from traceway.pipeline.api import RetryLaterError
from traceway.receivers.jaeger_agent import JaegerAgentReceiver
from traceway.receivers.jaeger_thrift import AgentProtocol


class RecordingConsumer:
    """Stores what it is given; can hold every call until released, or refuse them all."""

    def __init__(self, *, refuse: bool = False, hold: bool = False) -> None:
        self.spans: list[Span] = []
        self.calls = 0
        self.refuse = refuse
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def consume(self, spans: Sequence[Span]) -> None:
        self.calls += 1
        await self.release.wait()
        if self.refuse:
            raise RetryLaterError("queue is full")
        self.spans.extend(spans)


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


class Agent:
    def __init__(self, receiver: JaegerAgentReceiver, port: int) -> None:
        self.receiver = receiver
        self.port = port
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    async def send(self, datagram: bytes) -> None:
        before = self.receiver.stats.datagrams
        self.socket.sendto(datagram, ("127.0.0.1", self.port))
        await until(lambda: self.receiver.stats.datagrams > before)


async def start(
    consumer: RecordingConsumer, protocol: AgentProtocol = AgentProtocol.COMPACT, **options: int
) -> Agent:
    receiver = JaegerAgentReceiver(
        consumer, protocol, max_datagram_bytes=options.pop("max_datagram_bytes", 65_000), **options
    )
    port = await receiver.start("127.0.0.1", 0)
    return Agent(receiver, port)


@pytest.fixture
async def stopped_after() -> AsyncIterator[list[Agent]]:
    agents: list[Agent] = []
    yield agents
    for agent in agents:
        await agent.receiver.stop()
        agent.socket.close()


@pytest.mark.parametrize("protocol", list(AgentProtocol))
async def test_an_emit_batch_datagram_reaches_the_pipeline(
    protocol: AgentProtocol, stopped_after: list[Agent]
) -> None:
    consumer = RecordingConsumer()
    agent = await start(consumer, protocol)
    stopped_after.append(agent)
    await agent.send(client_datagram(protocol))
    await until(lambda: bool(consumer.spans))
    assert [s.service_name for s in consumer.spans] == ["orders"]
    assert agent.receiver.stats.stored_spans == 1


async def test_malformed_datagrams_are_counted_logged_once_and_the_port_keeps_working(
    stopped_after: list[Agent], caplog: pytest.LogCaptureFixture
) -> None:
    consumer = RecordingConsumer()
    agent = await start(consumer)
    stopped_after.append(agent)
    caplog.set_level(logging.WARNING, logger="traceway.receivers.jaeger_agent")
    for garbage in (b"\xff\xff not thrift", b"", client_datagram(AgentProtocol.BINARY)):
        await agent.send(garbage)
    await until(lambda: agent.receiver.stats.malformed_datagrams == 3)
    await agent.send(client_datagram(AgentProtocol.COMPACT))
    await until(lambda: bool(consumer.spans))
    warnings = [r for r in caplog.records if r.name == "traceway.receivers.jaeger_agent"]
    assert len(warnings) == 1
    assert "Jaeger agent (compact)" in warnings[0].getMessage()


async def test_what_the_pipeline_refuses_is_dropped_and_counted(
    stopped_after: list[Agent],
) -> None:
    agent = await start(RecordingConsumer(refuse=True))
    stopped_after.append(agent)
    await agent.send(client_datagram(AgentProtocol.COMPACT))
    await until(lambda: agent.receiver.stats.dropped_datagrams == 1)
    assert agent.receiver.stats.stored_spans == 0


async def test_datagrams_over_the_size_limit_or_the_in_flight_limit_are_dropped(
    stopped_after: list[Agent],
) -> None:
    consumer = RecordingConsumer(hold=True)
    datagram = client_datagram(AgentProtocol.COMPACT)
    agent = await start(consumer, max_in_flight=1, max_datagram_bytes=len(datagram))
    stopped_after.append(agent)
    await agent.send(datagram + b"\x00")
    assert agent.receiver.stats.dropped_datagrams == 1
    await agent.send(datagram)
    await until(lambda: consumer.calls == 1)
    await agent.send(datagram)
    assert agent.receiver.stats.dropped_datagrams == 2
    consumer.release.set()
    await until(lambda: agent.receiver.stats.stored_spans == 1)


async def test_stop_waits_for_datagrams_already_taken() -> None:
    consumer = RecordingConsumer(hold=True)
    agent = await start(consumer)
    await agent.send(client_datagram(AgentProtocol.COMPACT))
    await until(lambda: consumer.calls == 1)
    stopping = asyncio.create_task(agent.receiver.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()
    consumer.release.set()
    await stopping
    assert len(consumer.spans) == 1
    agent.socket.close()


async def test_a_port_in_use_is_named() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        receiver = JaegerAgentReceiver(
            RecordingConsumer(), AgentProtocol.BINARY, max_datagram_bytes=65_000
        )
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port} \\(UDP\\)"):
            await receiver.start("127.0.0.1", port)
