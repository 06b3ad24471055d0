"""Check that a Thrift message's declared lengths fit in its bytes, before thriftpy2 reads it.

thriftpy2 trusts the lengths a message declares: a 20-byte body that announces a
2 GiB string makes it allocate 2 GiB, and a list of 2**31 elements of a type that
takes no bytes (``STOP``, ``VOID``, an unknown type) makes it loop for seconds per
list. One linear pass over the encoding refuses both before any decoding: every
string and container must fit in the bytes that remain, every element type must be
one that takes at least one byte, and nesting is bounded. It checks shape only; the
values are read by thriftpy2.
"""

from __future__ import annotations

import struct

__all__ = [
    "ThriftShapeError",
    "check_binary_message",
    "check_binary_struct",
    "check_compact_message",
]

_MAX_DEPTH = 32
_MAX_VARINT_BYTES = 10

# Binary protocol type ids and the fixed widths of the scalar ones.
_B_STRING, _B_STRUCT, _B_MAP, _B_SET, _B_LIST = 11, 12, 13, 14, 15
_B_FIXED = {2: 1, 3: 1, 4: 8, 6: 2, 8: 4, 10: 8}  # bool, byte, double, i16, i32, i64
_B_MIN_WIDTH = {**_B_FIXED, _B_STRING: 4, _B_STRUCT: 1, _B_MAP: 6, _B_SET: 5, _B_LIST: 5}
_B_STRICT_VERSION = 0x80010000

# Compact protocol type ids; every one takes at least one byte inside a container.
_C_TRUE, _C_FALSE, _C_BYTE, _C_I16, _C_I32, _C_I64, _C_DOUBLE = 1, 2, 3, 4, 5, 6, 7
_C_BINARY, _C_LIST, _C_SET, _C_MAP, _C_STRUCT = 8, 9, 10, 11, 12
_C_MIN_WIDTH = dict.fromkeys(range(_C_TRUE, _C_STRUCT + 1), 1) | {_C_DOUBLE: 8}
_C_PROTOCOL_ID = 0x82
_C_VERSION = 1


class ThriftShapeError(ValueError):
    """The message is truncated, declares more than it holds, or uses an unknown type."""


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def skip(self, size: int) -> None:
        if size < 0 or size > self.remaining:
            raise ThriftShapeError(
                f"declares {size} bytes at offset {self.pos} but only {self.remaining} remain"
            )
        self.pos += size

    def u8(self) -> int:
        self.skip(1)
        return self.data[self.pos - 1]

    def i32(self) -> int:
        self.skip(4)
        value: int = struct.unpack_from(">i", self.data, self.pos - 4)[0]
        return value

    def varint(self) -> int:
        result = 0
        for index in range(_MAX_VARINT_BYTES):
            byte = self.u8()
            result |= (byte & 0x7F) << (7 * index)
            if not byte & 0x80:
                return result
        raise ThriftShapeError(f"a varint longer than {_MAX_VARINT_BYTES} bytes at {self.pos}")

    def elements(self, count: int, min_width: int) -> None:
        """Refuse a container whose elements cannot all fit in what remains."""
        if count < 0 or count * min_width > self.remaining:
            raise ThriftShapeError(
                f"a container of {count} elements at offset {self.pos} "
                f"does not fit in the {self.remaining} bytes that remain"
            )


def _depth(depth: int) -> int:
    if depth > _MAX_DEPTH:
        raise ThriftShapeError(f"nested deeper than {_MAX_DEPTH} levels")
    return depth + 1


def _width(table: dict[int, int], type_id: int) -> int:
    width = table.get(type_id)
    if width is None:
        raise ThriftShapeError(f"unknown Thrift type id {type_id}")
    return width


def _binary_value(reader: _Reader, type_id: int, depth: int) -> None:
    fixed = _B_FIXED.get(type_id)
    if fixed is not None:
        reader.skip(fixed)
    elif type_id == _B_STRING:
        reader.skip(reader.i32())
    elif type_id == _B_STRUCT:
        _binary_struct(reader, _depth(depth))
    elif type_id in (_B_SET, _B_LIST):
        element = reader.u8()
        count = reader.i32()
        reader.elements(count, _width(_B_MIN_WIDTH, element))
        for _ in range(count):
            _binary_value(reader, element, _depth(depth))
    elif type_id == _B_MAP:
        key, value = reader.u8(), reader.u8()
        count = reader.i32()
        reader.elements(count, _width(_B_MIN_WIDTH, key) + _width(_B_MIN_WIDTH, value))
        for _ in range(count):
            _binary_value(reader, key, _depth(depth))
            _binary_value(reader, value, _depth(depth))
    else:
        raise ThriftShapeError(f"unknown Thrift type id {type_id} at offset {reader.pos - 1}")


def _binary_struct(reader: _Reader, depth: int) -> None:
    while (type_id := reader.u8()) != 0:
        reader.skip(2)  # field id
        _binary_value(reader, type_id, depth)


def check_binary_struct(data: bytes) -> None:
    """Check one struct in the binary protocol (a Jaeger ``Batch`` posted over HTTP)."""
    _binary_struct(_Reader(data), 0)


def check_binary_message(data: bytes) -> None:
    """Check a call in the binary protocol, strict or old-style header, and its arguments."""
    reader = _Reader(data)
    first = reader.i32()
    if first < 0:
        if first & 0xFFFF0000 != _B_STRICT_VERSION:
            raise ThriftShapeError("not a Thrift binary message (bad version)")
        reader.skip(reader.i32())  # method name
    else:
        reader.skip(first)  # method name
        reader.skip(1)  # message type
    reader.skip(4)  # sequence id
    _binary_struct(reader, 0)


def _compact_value(reader: _Reader, type_id: int, depth: int, in_container: bool) -> None:
    if type_id in (_C_TRUE, _C_FALSE):
        if in_container:  # a field's bool lives in its header; a list's takes a byte
            reader.skip(1)
    elif type_id == _C_BYTE:
        reader.skip(1)
    elif type_id in (_C_I16, _C_I32, _C_I64):
        reader.varint()
    elif type_id == _C_DOUBLE:
        reader.skip(8)
    elif type_id == _C_BINARY:
        reader.skip(reader.varint())
    elif type_id == _C_STRUCT:
        _compact_struct(reader, _depth(depth))
    elif type_id in (_C_LIST, _C_SET):
        header = reader.u8()
        count, element = header >> 4, header & 0x0F
        if count == 15:
            count = reader.varint()
        reader.elements(count, _width(_C_MIN_WIDTH, element))
        for _ in range(count):
            _compact_value(reader, element, _depth(depth), in_container=True)
    elif type_id == _C_MAP:
        count = reader.varint()
        if count:
            types = reader.u8()
            key, value = types >> 4, types & 0x0F
            reader.elements(count, _width(_C_MIN_WIDTH, key) + _width(_C_MIN_WIDTH, value))
            for _ in range(count):
                _compact_value(reader, key, _depth(depth), in_container=True)
                _compact_value(reader, value, _depth(depth), in_container=True)
    else:
        raise ThriftShapeError(f"unknown compact Thrift type id {type_id} at {reader.pos - 1}")


def _compact_struct(reader: _Reader, depth: int) -> None:
    while (header := reader.u8()) & 0x0F:
        if not header >> 4:
            reader.varint()  # field id, when not a delta from the previous one
        _compact_value(reader, header & 0x0F, depth, in_container=False)


def check_compact_message(data: bytes) -> None:
    """Check a call in the compact protocol (a Jaeger agent datagram on 6831)."""
    reader = _Reader(data)
    if reader.u8() != _C_PROTOCOL_ID:
        raise ThriftShapeError("not a Thrift compact message (bad protocol id)")
    if reader.u8() & 0x1F != _C_VERSION:
        raise ThriftShapeError("not a Thrift compact message (bad version)")
    reader.varint()  # sequence id
    reader.skip(reader.varint())  # method name
    _compact_struct(reader, 0)
