"""Jaeger payloads as jaeger-client's own generated Thrift code (Apache Thrift) writes them."""

from __future__ import annotations

from typing import Any

from jaeger_client.thrift_gen.agent import Agent as ClientAgent
from jaeger_client.thrift_gen.jaeger import ttypes as client_types
from thrift.protocol import TBinaryProtocol, TCompactProtocol
from thrift.Thrift import TMessageType
from thrift.transport import TTransport

from traceway.receivers.jaeger_thrift import AgentProtocol

PROTOCOLS = {
    AgentProtocol.COMPACT: TCompactProtocol.TCompactProtocol,
    AgentProtocol.BINARY: TBinaryProtocol.TBinaryProtocol,
}


def client_batch() -> Any:
    """A Batch as jaeger-client's generated code (Apache Thrift) builds it."""
    tag = client_types.Tag
    return client_types.Batch(
        process=client_types.Process(
            serviceName="orders",
            tags=[tag(key="hostname", vType=client_types.TagType.STRING, vStr="web-1")],
        ),
        spans=[
            client_types.Span(
                traceIdLow=-2,
                traceIdHigh=0,
                spanId=7,
                parentSpanId=0,
                operationName="GET /orders/{id}",
                flags=1,
                startTime=1_700_000_000_000_000,
                duration=250_000,
                tags=[
                    tag(key="retries", vType=client_types.TagType.LONG, vLong=3),
                    tag(key="ratio", vType=client_types.TagType.DOUBLE, vDouble=0.5),
                ],
                logs=[
                    client_types.Log(
                        timestamp=1_700_000_000_100_000,
                        fields=[tag(key="event", vType=client_types.TagType.STRING, vStr="x")],
                    )
                ],
            )
        ],
    )


def client_body() -> bytes:
    buffer = TTransport.TMemoryBuffer()
    client_batch().write(TBinaryProtocol.TBinaryProtocol(buffer))
    return buffer.getvalue()


def client_datagram(protocol: AgentProtocol, method: str = "emitBatch") -> bytes:
    """An ``emitBatch`` call as jaeger-client's ``Agent.Client.send_emitBatch`` writes it."""
    buffer = TTransport.TMemoryBuffer()
    writer = PROTOCOLS[protocol](buffer)
    writer.writeMessageBegin(method, TMessageType.ONEWAY, 1)
    ClientAgent.emitBatch_args(batch=client_batch()).write(writer)
    writer.writeMessageEnd()
    return buffer.getvalue()
