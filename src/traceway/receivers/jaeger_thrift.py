"""Jaeger's Thrift ``Batch``, read with thriftpy2 from the IDL in ``idl/``.

A Batch arrives three ways: as the whole body of ``POST /api/traces`` (binary
protocol), and as an ``Agent.emitBatch`` call in a UDP datagram (compact protocol on
6831, binary on 6832). Every payload passes ``jaeger_thrift_guard`` first, so a
hostile length cannot make thriftpy2 allocate or loop beyond the payload's size.

The ``Thrift*`` protocols below type what traceway reads from thriftpy2's objects:
thriftpy2 does not enforce ``required``, so any field may be ``None``, and a string
that is not UTF-8 stays ``bytes``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, cast

import thriftpy2
from thriftpy2.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
from thriftpy2.thrift import TException, TMessageType
from thriftpy2.transport import TMemoryBuffer

from traceway.receivers.jaeger_thrift_guard import (
    ThriftShapeError,
    check_binary_message,
    check_binary_struct,
    check_compact_message,
)

__all__ = [
    "AgentProtocol",
    "JaegerDecodeError",
    "ThriftBatch",
    "ThriftLog",
    "ThriftProcess",
    "ThriftSpan",
    "ThriftSpanRef",
    "ThriftTag",
    "decode_agent_datagram",
    "decode_batch",
]

_IDL = Path(__file__).with_name("idl")
_AGENT: Any = thriftpy2.load(str(_IDL / "agent.thrift"), include_dirs=[str(_IDL)])
_JAEGER: Any = _AGENT.jaeger
_EMIT_BATCH = "emitBatch"

# What thriftpy2 raises on bytes that the guard let through but that do not decode.
_DECODE_ERRORS = (TException, struct.error, EOFError, ValueError, KeyError, TypeError)


class JaegerDecodeError(ValueError):
    """The payload is not a Jaeger Thrift Batch; permanent, the client must not retry."""


class AgentProtocol(Enum):
    """The Thrift protocol of an agent port: compact on 6831, binary on 6832."""

    COMPACT = "compact"
    BINARY = "binary"


class ThriftTag(Protocol):
    key: str | bytes | None
    vType: int | None
    vStr: str | bytes | None
    vDouble: float | None
    vBool: bool | None
    vLong: int | None
    vBinary: bytes | str | None


class ThriftLog(Protocol):
    timestamp: int | None
    fields: Sequence[ThriftTag] | None


class ThriftSpanRef(Protocol):
    refType: int | None
    traceIdLow: int | None
    traceIdHigh: int | None
    spanId: int | None


class ThriftSpan(Protocol):
    traceIdLow: int | None
    traceIdHigh: int | None
    spanId: int | None
    parentSpanId: int | None
    operationName: str | bytes | None
    references: Sequence[ThriftSpanRef] | None
    flags: int | None
    startTime: int | None
    duration: int | None
    tags: Sequence[ThriftTag] | None
    logs: Sequence[ThriftLog] | None


class ThriftProcess(Protocol):
    serviceName: str | bytes | None
    tags: Sequence[ThriftTag] | None


class ThriftBatch(Protocol):
    process: ThriftProcess | None
    spans: Sequence[ThriftSpan] | None


def _checked_batch(batch: Any) -> ThriftBatch:
    if not isinstance(batch, _JAEGER.Batch) or batch.spans is None:
        raise JaegerDecodeError("body is not a Jaeger Thrift Batch (it has no spans list)")
    return cast(ThriftBatch, batch)


def _guarded(check: Callable[[bytes], None], data: bytes, what: str) -> None:
    try:
        check(data)
    except ThriftShapeError as exc:
        raise JaegerDecodeError(f"{what} is not valid Thrift: {exc}") from exc


def _reader(data: bytes, protocol: AgentProtocol) -> Any:
    """A thriftpy2 protocol reading ``data`` (thriftpy2's factories are untyped)."""
    if protocol is AgentProtocol.COMPACT:
        factory: Any = TCompactProtocolFactory()  # type: ignore[no-untyped-call]
    else:
        # Not strict: old clients send the message header without a version.
        factory = TBinaryProtocolFactory(strict_read=False)  # type: ignore[no-untyped-call]
    return factory.get_protocol(TMemoryBuffer(data))  # type: ignore[no-untyped-call]


def decode_batch(body: bytes) -> ThriftBatch:
    """A ``Batch`` from a ``POST /api/traces`` body (Thrift binary protocol)."""
    _guarded(check_binary_struct, body, "body")
    batch = _JAEGER.Batch()
    try:
        _reader(body, AgentProtocol.BINARY).read_struct(batch)
    except _DECODE_ERRORS as exc:
        raise JaegerDecodeError(f"body is not a Jaeger Thrift Batch: {exc}") from exc
    return _checked_batch(batch)


def decode_agent_datagram(datagram: bytes, protocol: AgentProtocol) -> ThriftBatch:
    """The ``Batch`` of an ``Agent.emitBatch`` call sent to a Jaeger agent port."""
    check = check_compact_message if protocol is AgentProtocol.COMPACT else check_binary_message
    _guarded(check, datagram, "datagram")
    reader = _reader(datagram, protocol)
    arguments = _AGENT.Agent.emitBatch_args()
    try:
        method, message_type, _ = reader.read_message_begin()
        if method != _EMIT_BATCH or message_type not in (TMessageType.CALL, TMessageType.ONEWAY):
            raise JaegerDecodeError(
                f"datagram calls {method!r}; the Jaeger agent port takes only emitBatch"
            )
        reader.read_struct(arguments)
    except _DECODE_ERRORS as exc:
        raise JaegerDecodeError(f"datagram is not an Agent.emitBatch call: {exc}") from exc
    return _checked_batch(arguments.batch)
