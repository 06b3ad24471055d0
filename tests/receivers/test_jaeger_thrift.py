"""Reading Jaeger Thrift payloads: what Jaeger clients encode decodes, and nothing else does,
however its lengths lie."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
import thriftpy2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jaeger_client.thrift_gen.agent import Agent as ClientAgent
from jaeger_client.thrift_gen.jaeger import ttypes as client_types
from thrift.protocol import TBinaryProtocol
from thrift.Thrift import TMessageType
from thrift.transport import TTransport

import traceway.receivers
from tests.receivers.jaeger_payloads import client_batch, client_body, client_datagram
from traceway.receivers.jaeger_thrift import (
    AgentProtocol,
    JaegerDecodeError,
    decode_agent_datagram,
    decode_batch,
)

IDL = Path(traceway.receivers.__file__).with_name("idl")
JAEGER: Any = thriftpy2.load(str(IDL / "jaeger.thrift"))


def test_a_batch_encoded_by_the_jaeger_client_decodes() -> None:
    batch = decode_batch(client_body())
    assert batch.process is not None
    assert batch.process.serviceName == "orders"
    (span,) = batch.spans or ()
    assert (span.traceIdLow, span.spanId, span.operationName) == (-2, 7, "GET /orders/{id}")
    assert [(t.key, t.vLong, t.vDouble) for t in span.tags or ()] == [
        ("retries", 3, None),
        ("ratio", None, 0.5),
    ]


@pytest.mark.parametrize("protocol", list(AgentProtocol))
def test_agent_datagrams_encoded_by_the_jaeger_client_decode(protocol: AgentProtocol) -> None:
    batch = decode_agent_datagram(client_datagram(protocol), protocol)
    assert [s.spanId for s in batch.spans or ()] == [7]


def test_an_old_style_binary_message_header_is_accepted() -> None:
    buffer = TTransport.TMemoryBuffer()
    writer = TBinaryProtocol.TBinaryProtocol(buffer, strictWrite=False)
    writer.writeMessageBegin("emitBatch", TMessageType.ONEWAY, 1)
    ClientAgent.emitBatch_args(batch=client_batch()).write(writer)
    batch = decode_agent_datagram(buffer.getvalue(), AgentProtocol.BINARY)
    assert len(batch.spans or ()) == 1


def test_the_protocol_must_match_the_port() -> None:
    with pytest.raises(JaegerDecodeError):
        decode_agent_datagram(client_datagram(AgentProtocol.BINARY), AgentProtocol.COMPACT)


def test_only_emit_batch_is_taken() -> None:
    with pytest.raises(JaegerDecodeError, match="emitZipkinBatch"):
        decode_agent_datagram(
            client_datagram(AgentProtocol.COMPACT, method="emitZipkinBatch"),
            AgentProtocol.COMPACT,
        )


@pytest.mark.parametrize(
    "body",
    [b"", b"\x00", b"\xff\xff\xff not thrift", b'{"spans": []}', client_body()[:-7]],
    ids=["empty", "empty struct", "garbage", "json", "truncated"],
)
def test_bodies_that_are_not_a_batch_are_refused(body: bytes) -> None:
    with pytest.raises(JaegerDecodeError):
        decode_batch(body)


def binary_list_field(element_type: int, count: int) -> bytes:
    return bytes([15]) + struct.pack(">hbi", 2, element_type, count)


# Each declares far more than it holds; thriftpy2 alone would allocate or loop on it.
HOSTILE_BODIES = {
    "2 GiB string": bytes([12]) + struct.pack(">h", 1)  # process
    + bytes([11]) + struct.pack(">hi", 1, 2**31 - 1) + b"abc",
    "2**31 VOID elements": binary_list_field(1, 2**31 - 1) + b"\x00",
    "2**31 STOP elements": binary_list_field(0, 2**31 - 1) + b"\x00",
    "2**31 unknown elements": binary_list_field(20, 2**31 - 1) + b"\x00",
    "map of 2**31 VOIDs": bytes([13]) + struct.pack(">hbbi", 9, 1, 1, 2**31 - 1) + b"\x00",
    "negative length": binary_list_field(12, -5) + b"\x00",
    "deep nesting": (bytes([12]) + struct.pack(">h", 9)) * 200 + b"\x00" * 200,
}  # fmt: skip


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_declared_lengths_that_do_not_fit_are_refused_before_decoding(body: bytes) -> None:
    with pytest.raises(JaegerDecodeError, match="not valid Thrift"):
        decode_batch(body)
    message = struct.pack(">i", -2147418108) + struct.pack(">i", 9) + b"emitBatch"
    with pytest.raises(JaegerDecodeError, match="not valid Thrift"):
        decode_agent_datagram(message + struct.pack(">i", 1) + body, AgentProtocol.BINARY)


HOSTILE_COMPACT = {
    "huge method name": b"\x82\x81\x01\xff\xff\xff\xff\x07emit",
    "huge list": b"\x82\x81\x01\x09emitBatch" + b"\x1c" + b"\x29\xf1\xff\xff\xff\x07" + b"\x00",
    "STOP elements": b"\x82\x81\x01\x09emitBatch" + b"\x19\xf0\xff\xff\xff\x07" + b"\x00",
    "huge map": b"\x82\x81\x01\x09emitBatch" + b"\x1b\xff\xff\xff\xff\x07\x00" + b"\x00",
    "endless varint": b"\x82\x81" + b"\xff" * 40,
}


@pytest.mark.parametrize("datagram", HOSTILE_COMPACT.values(), ids=HOSTILE_COMPACT.keys())
def test_compact_datagrams_that_lie_are_refused(datagram: bytes) -> None:
    with pytest.raises(JaegerDecodeError, match="not valid Thrift"):
        decode_agent_datagram(datagram, AgentProtocol.COMPACT)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), protocol=st.sampled_from([None, *AgentProtocol]))
def test_damaged_payloads_raise_only_decode_errors(
    data: st.DataObject, protocol: AgentProtocol | None
) -> None:
    payload = bytearray(client_body() if protocol is None else client_datagram(protocol))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(payload) - 1))
        payload[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(payload)))
    damaged = bytes(payload[:cut])
    try:
        if protocol is None:
            decode_batch(damaged)
        else:
            decode_agent_datagram(damaged, protocol)
    except JaegerDecodeError:
        pass


def test_thriftpy2_and_the_jaeger_client_agree_on_the_idl() -> None:
    """The IDL written for traceway has Jaeger's field ids and types."""
    for name in ("Tag", "Log", "SpanRef", "Span", "Process", "Batch"):
        ours = {fid: spec[:2] for fid, spec in getattr(JAEGER, name).thrift_spec.items()}
        theirs = {
            spec[0]: (spec[1], spec[2])
            for spec in getattr(client_types, name).thrift_spec
            if spec is not None and spec[0] in ours
        }
        # thriftpy2 spells binary as its own type id (18); on the wire it is STRING (11).
        ours = {fid: (11 if t == 18 else t, n) for fid, (t, n) in ours.items()}
        assert ours == theirs, name
