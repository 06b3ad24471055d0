"""Protobuf wire bytes written by hand, and the parity check of the native OTLP decoder.

The writer makes bodies that no generated encoder would: unknown fields, repeated
scalars, out-of-range enums, overlong varints, groups, invalid UTF-8. The check says
where a native decoding first differs from the Python reference (column and row).
"""

from __future__ import annotations

import math
import random
import struct
from typing import Any

from traceway.receivers.otlp_decode import DecodedSpans, OtlpDecodeError
from traceway.storage.span_batch import SpanBatch

__all__ = [
    "SPAN_ID",
    "TRACE_ID",
    "assert_same_decoding",
    "double",
    "fixed32",
    "fixed64",
    "length_delimited",
    "mutate",
    "native_divergence",
    "overlong_varint",
    "request_with_span",
    "shown",
    "tag",
    "uint",
    "varint",
]

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
_SHOWN_BODY_BYTES = 600


# --- the wire format ---


def varint(value: int) -> bytes:
    """Base-128 varint of ``value`` as a uint64 (negatives in two's complement, 10 bytes)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def overlong_varint(value: int, size: int) -> bytes:
    """``value`` as a varint padded to ``size`` bytes with continuation bytes."""
    out = bytearray()
    for _ in range(size - 1):
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value & 0x7F)
    return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def uint(number: int, value: int) -> bytes:
    """A varint field (wire type 0): int64, uint32, enum, bool."""
    return tag(number, 0) + varint(value)


def fixed64(number: int, value: int) -> bytes:
    return tag(number, 1) + struct.pack("<Q", value & (1 << 64) - 1)


def double(number: int, value: float) -> bytes:
    return tag(number, 1) + struct.pack("<d", value)


def fixed32(number: int, value: int) -> bytes:
    return tag(number, 5) + struct.pack("<I", value & (1 << 32) - 1)


def length_delimited(number: int, payload: bytes | str) -> bytes:
    """A string, bytes or embedded message field (wire type 2)."""
    raw = payload.encode() if isinstance(payload, str) else payload
    return tag(number, 2) + varint(len(raw)) + raw


def request_with_span(*span_fields: bytes, ids: bool = True) -> bytes:
    """An export request of one resource, one scope and one span of ``span_fields``
    (after a valid trace and span id unless ``ids`` is false)."""
    span = (
        length_delimited(1, TRACE_ID) + length_delimited(2, SPAN_ID) if ids else b""
    ) + b"".join(span_fields)
    scope_spans = length_delimited(2, span)
    return length_delimited(1, length_delimited(2, scope_spans))


# --- the parity check ---


def assert_same_decoding(got: DecodedSpans | None, want: DecodedSpans, body: bytes) -> None:
    """Fail, naming the first differing column and row, unless ``got`` is ``want``."""
    assert got is not None, f"native decoder left to Python a body it must decode\n{shown(body)}"
    difference = _difference(got, want)
    assert difference is None, f"native decoding differs: {difference}\n{shown(body)}"


def native_divergence(native: Any, reference: Any, body: bytes) -> str | None:
    """What is wrong with ``native(body)`` given ``reference(body)``, or None: the native
    result must be None or the reference's, and None when the reference refuses."""
    try:
        want = reference(body)
    except OtlpDecodeError:
        want = None
    try:
        got = native(body)
    except Exception as exc:  # any exception is a finding here; report it, do not hide it
        return f"native decoder raised {exc!r}"
    if got is None:
        return None
    if want is None:
        return "native decoder decoded a body that the Python decoder refuses"
    return _difference(got, want)


def shown(body: bytes) -> str:
    """The body as hex for a failure message, cut after its first bytes."""
    more = f" ... ({len(body)} bytes)" if len(body) > _SHOWN_BODY_BYTES else ""
    return f"body (hex): {body[:_SHOWN_BODY_BYTES].hex()}{more}"


def _difference(got: DecodedSpans, want: DecodedSpans) -> str | None:
    if not isinstance(got, DecodedSpans) or not isinstance(got.spans, SpanBatch):
        return f"native result is {got!r}, not DecodedSpans of a SpanBatch"
    assert isinstance(want.spans, SpanBatch)
    if (got.rejected_spans, got.error_message) != (want.rejected_spans, want.error_message):
        return (
            f"rejections: native {got.rejected_spans} {got.error_message!r}, "
            f"python {want.rejected_spans} {want.error_message!r}"
        )
    try:
        got.spans.table.validate(full=True)  # offsets in range, strings valid UTF-8, ...
    except Exception as exc:  # pyarrow raises ArrowInvalid; any error is the finding
        return f"native table is not valid Arrow: {exc}"
    table = _table_difference(got.spans.table, want.spans.table)
    if table is not None:
        return table
    for label, mine, theirs in (
        ("resources", got.spans.resources, want.spans.resources),
        ("scopes", got.spans.scopes, want.spans.scopes),
    ):
        if set(mine) != set(theirs):
            return f"{label} keys: native {sorted(mine)}, python {sorted(theirs)}"
        for key, value in theirs.items():
            # repr tells -0.0 from 0.0, True from 1 and 1.0 from 1, and equals NaN to NaN
            if repr(mine[key]) != repr(value) or type(mine[key]) is not type(value):
                return f"{label}[{key}]: native {mine[key]!r}, python {value!r}"
    return None


def _table_difference(got: Any, want: Any) -> str | None:
    if not got.schema.equals(want.schema):
        fields = [
            f"{mine} vs {theirs}"
            for mine, theirs in zip(got.schema, want.schema, strict=False)
            if not mine.equals(theirs)
        ]
        return f"schema: native vs python: {fields or [got.schema.names, want.schema.names]}"
    if got.num_rows != want.num_rows:
        return f"rows: native {got.num_rows}, python {want.num_rows}"
    for name in want.column_names:
        mine, theirs = got.column(name), want.column(name)
        if mine.equals(theirs):
            continue
        for row, (a, b) in enumerate(zip(mine.to_pylist(), theirs.to_pylist(), strict=True)):
            if not _same_value(a, b):
                return f"column {name!r}, row {row}: {_value_difference(a, b)}"
        return f"column {name!r}: same values but unequal arrays ({mine!r} vs {theirs!r})"
    if not got.equals(want):
        return "tables unequal though every column is equal"
    return None


def _same_value(a: Any, b: Any) -> bool:
    return type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a) and b != b))


def _value_difference(a: Any, b: Any) -> str:
    if isinstance(a, str) and isinstance(b, str):
        at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
        at = min(len(a), len(b)) if at is None else at
        start = max(0, at - 30)
        return (
            f"strings differ at character {at}: native ...{a[start : at + 30]!r}..., "
            f"python ...{b[start : at + 30]!r}... (lengths {len(a)}, {len(b)})"
        )
    if isinstance(a, list) and isinstance(b, list):
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            if not _same_value(x, y):
                return f"item {index}: {_value_difference(x, y)}"
        return f"lists of {len(a)} and {len(b)} items: native {a!r}, python {b!r}"
    return f"native {a!r}, python {b!r}"


# --- mutations ---


def mutate(body: bytes, rng: random.Random, rounds: int = 3) -> bytes:
    """``body`` with up to ``rounds`` random edits: bit flips, byte sets, inserts,
    deletions, truncation, and varint-looking bytes where lengths live."""
    data = bytearray(body)
    for _ in range(rng.randint(1, rounds)):
        at = rng.randrange(len(data) + 1)
        edit = rng.randrange(6)
        if edit == 0 and data:
            data[at % len(data)] ^= 1 << rng.randrange(8)
        elif edit == 1 and data:
            data[at % len(data)] = rng.choice((0x00, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif edit == 2:
            data[at:at] = rng.randbytes(rng.randint(1, 4))
        elif edit == 3:
            del data[at : at + rng.randint(1, 8)]
        elif edit == 4:
            del data[at:]
        else:
            data[at:at] = rng.choice((b"\xff\xff\xff\xff\x0f", b"\x80" * 10 + b"\x01", b"\x0b"))
    return bytes(data)
