"""A span's events in two columns: their times as offsets from the span's start, the rest as text.

Events come as typed JSON, ``[[time, name, attributes, dropped], ...]``
(``storage.typed_json``). Stored as they come, the nanosecond times make every text
unique; without them, spans of one kind mostly share the text (``message`` events of
gRPC calls, the same exception) and DuckDB's dictionary stores it once. The times go
to a list of integers, each minus the span's start: small numbers, bit-packed.

The split is defined by DuckDB's JSON functions, and kept only when DuckDB writes the
events back exactly as they came (so the text left reads back as the same values)
and every offset fits a BIGINT: else (a float written another way, a time past
2262) the events stay as they came and the offsets are NULL. Binding those
functions costs a statement about 1.5 ms however few spans have events, then some
4 us per span with events; Python takes some 9 us. So ``split_events`` makes the
same split in Python when all the batch's events are plain (ASCII without escapes,
no floats, integers that fit a BIGINT, written compactly): there DuckDB and Python
write JSON alike. Most events repeat but for their times (gRPC ``message`` events,
the same exception): the text around the times, once split, is remembered
(``_SHAPES``), and a span whose events have a known shape takes 2 or 3 microseconds.
A batch with more than ``SPLIT_IN_PYTHON`` spans of unknown shapes, or one with
events that are not plain, goes through DuckDB's functions (``EVENT_OFFSETS``,
``EVENT_COLUMNS``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from traceway.model import Event
from traceway.storage.duckdb.batch_plan import fixed_values
from traceway.storage.typed_json import attributes_from_json, decode_events

try:
    from traceway.storage.duckdb import _events_native
except ImportError:  # built by setup.py; without it the split is made in Python alone
    _events_native = None  # type: ignore[assignment,unused-ignore]

__all__ = ["EVENT_COLUMNS", "EVENT_OFFSETS", "SPLIT_IN_PYTHON", "events", "split_events"]

EVENT_OFFSETS = """
CASE WHEN s.events IS NOT NULL THEN list_transform(
    json_extract_string(s.events, '$[*][0]'),
    lambda t: CASE WHEN TRY_CAST(t AS HUGEINT)::VARCHAR = t
                   THEN TRY_CAST(TRY_CAST(t AS HUGEINT) - s.start_time_ns AS BIGINT) END
) END AS offsets,
CASE WHEN s.events IS NOT NULL THEN json_extract(s.events, '$[*]') END AS event_items,
s.events AS events_as_sent
"""
"""For a span ``s`` being stored (``s.start_time_ns`` its start): each event's offset (NULL
where it does not fit), each event as DuckDB parsed it, and the events as sent."""

_EXACT = """
list_count(offsets) = len(offsets)
AND to_json(list_transform(event_items, lambda e: json_array(e->0, e->1, e->2, e->3)))::VARCHAR
    = events_as_sent
"""
EVENT_COLUMNS = f"""
CASE WHEN {_EXACT} THEN offsets END AS event_offsets_ns,
CASE WHEN {_EXACT}
     THEN to_json(list_transform(event_items, lambda e: json_array(e->1, e->2, e->3)))::VARCHAR
     ELSE events_as_sent END AS events
"""
"""The two stored columns from ``EVENT_OFFSETS``: ``[[name, attributes, dropped], ...]``
and the offsets, or the events as sent and NULL."""


SPLIT_IN_PYTHON = 300
"""Most spans with events of an unknown shape that ``split_events`` splits: past that
(or when its first ones say that so many will come), DuckDB is quicker."""
_SAMPLE = 64
"""Spans with events seen before judging how many shapes will be unknown."""
_MAX_SHAPES = 4096
"""Shapes remembered at most: past that they are forgotten and learned again."""
_NO_EVENTS = pa.scalar(0, pa.int32())  # typed: inferring a type can cost pyarrow 50 us

# Writes what typed_json.dumps writes.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
_INT64 = range(-(2**63), 2**63)


class _NotPlain(Exception):
    """A number that DuckDB may write back another way than Python."""


def _int64(text: str) -> int:
    value = int(text)
    if value not in _INT64:
        raise _NotPlain
    return value


def _refuse(text: str) -> object:
    raise _NotPlain


# DuckDB writes a float its own way (1e100 for 1e+100), NaN too; and an integer it
# reads as a float (past 64 bits) might not come back as it was.
_DECODER = json.JSONDecoder(parse_int=_int64, parse_float=_refuse, parse_constant=_refuse)

# ``[``, a canonical integer and a comma: where each event's time is (so its text
# left is the pieces between them joined by ``[``), and maybe some other numbers (a
# list of integers in an attribute, a string like "[5,6]").
_TIME = re.compile(r"\[(0|-?[1-9][0-9]*),")
# The pieces between the ``_TIME`` matches of events split before, when the matches
# were exactly the events' times. Another text with the same pieces differs only in
# those canonical integers: its events are plain too, and those integers are its times.
# Registered in the C module when it was built (its ``split`` reads them), else here.
_SHAPES: set[tuple[str, ...]] = set()


def _shape_key(pieces: list[str]) -> bytes:
    """The C module's key of a shape: each piece's UTF-8 length (4 bytes) and bytes."""
    key = bytearray()
    for piece in pieces:
        data = piece.encode()
        key += len(data).to_bytes(4, "little") + data
    return bytes(key)


def _is_known(pieces: list[str]) -> bool:
    if _events_native is None:
        return tuple(pieces) in _SHAPES
    return _events_native.known(_shape_key(pieces))


def _add_shape(pieces: list[str]) -> None:
    if _events_native is None:
        if len(_SHAPES) >= _MAX_SHAPES:
            _SHAPES.clear()
        _SHAPES.add(tuple(pieces))
    else:
        _events_native.remember(_shape_key(pieces), _MAX_SHAPES)


def _split(text: str, start_ns: int) -> tuple[list[int], str] | None:
    """The offsets and the text left of plain events (as ``EVENT_COLUMNS`` would make
    them), or None when they are not plain."""
    if not text.isascii() or "\\" in text:
        return None
    try:
        rows = _DECODER.decode(text)
    except (ValueError, _NotPlain):
        return None
    if not isinstance(rows, list) or not rows or _ENCODER.encode(rows) != text:
        return None
    offsets: list[int] = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4 or type(row[0]) is not int:
            return None
        offset = row[0] - start_ns
        if offset not in _INT64:
            return None
        offsets.append(offset)
    return offsets, _ENCODER.encode([row[1:] for row in rows])


def _known(parts: list[str], start_ns: int) -> tuple[list[int], str] | bool:
    """What ``_split`` gives for a text split at ``_TIME`` into ``parts`` when its shape
    is in ``_SHAPES``; True when the shape is unknown (``_split`` has to run), False when
    a time or an offset does not fit a BIGINT (``_split`` gives None)."""
    pieces = parts[0::2]
    if not _is_known(pieces):
        return True
    offsets: list[int] = []
    for time in parts[1::2]:
        value = int(time)
        if value not in _INT64 or value - start_ns not in _INT64:
            return False
        offsets.append(value - start_ns)
    return offsets, "[".join(pieces)


def _remember(parts: list[str], start_ns: int, offsets: list[int], left: str) -> None:
    """Remember the shape of a text split at ``_TIME`` into ``parts`` when the matches
    are its events' times."""
    pieces = parts[0::2]
    if [int(time) - start_ns for time in parts[1::2]] == offsets and "[".join(pieces) == left:
        _add_shape(pieces)


def _list_column(lists: list[list[int]], present: pa.BooleanArray) -> pa.ListArray:
    """A list per true of ``present`` (in order), null where it is false."""
    lengths = pa.array([len(items) for items in lists], pa.int32())
    per_row = pc.fill_null(
        pc.replace_with_mask(pa.nulls(len(present), pa.int32()), present, lengths), _NO_EVENTS
    )
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(per_row)])
    values = pa.array([item for items in lists for item in items], pa.int64())
    return pa.ListArray.from_arrays(offsets, values, mask=pc.invert(present))


def split_events(
    texts: pa.Array, start_ns: pa.Array | pa.ChunkedArray
) -> tuple[pa.Array, pa.Array] | None:
    """The stored ``events`` and ``event_offsets_ns`` of spans with events ``texts``
    (typed JSON) starting at ``start_ns``; None when some span's events are not plain,
    or more than ``SPLIT_IN_PYTHON`` spans have events of unknown shapes."""
    if _events_native is not None:
        native = _split_natively(texts, _one_chunk(start_ns))
        if isinstance(native, tuple):
            return native
        if native is False:
            return None
    present = texts.is_valid()
    count = len(texts) - texts.null_count
    found = zip(
        texts.filter(present).to_pylist(), start_ns.filter(present).to_pylist(), strict=True
    )
    lefts: list[str] = []
    offsets: list[list[int]] = []
    unknown = 0
    for seen, (text, start) in enumerate(found, 1):
        parts = _TIME.split(text)
        known = _known(parts, start)
        if known is False:
            return None
        if known is True:
            unknown += 1
            # Judged on the first spans too, so that a batch of unique events is not
            # split here and then again by DuckDB.
            if unknown > SPLIT_IN_PYTHON or (
                seen >= _SAMPLE and unknown * count > SPLIT_IN_PYTHON * seen
            ):
                return None
            split = _split(text, start)
            if split is None:
                return None
            _remember(parts, start, *split)
        else:
            split = known
        offsets.append(split[0])
        lefts.append(split[1])
    events = pc.replace_with_mask(texts, present, pa.array(lefts, pa.string()))
    return events, _list_column(offsets, present)


def _one_chunk(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.Array):
        return column
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _split_natively(texts: pa.Array, start_ns: pa.Array) -> tuple[pa.Array, pa.Array] | bool:
    """``split_events`` by the C module when every span's events have a known shape:
    the columns, or False when ``split_events`` says None; True when a shape is not
    known and the Python has to split them (and for what the C module does not take:
    no rows, other types, null start times)."""
    if not len(texts) or texts.type != pa.string() or start_ns.type != pa.int64():
        return True
    if start_ns.null_count:  # the Python says what is wrong with them
        return True
    count, at = len(texts), texts.offset
    validity, offsets, data = texts.buffers()
    valid = None
    if texts.null_count and validity is not None:
        valid = memoryview(validity).cast("B")[at // 8 :]
    found = _events_native.split(
        count,
        memoryview(offsets).cast("B")[at * 4 : (at + count + 1) * 4],
        memoryview(data if data is not None else b""),
        valid,
        at % 8,
        fixed_values(start_ns),
    )
    if found is None or found is False:
        return found is None
    left_offsets, lefts, list_offsets, values, left_valid = found
    validity_buffer = None if left_valid is None else pa.py_buffer(left_valid)
    nulls = texts.null_count
    events = pa.Array.from_buffers(
        pa.string(),
        count,
        [validity_buffer, pa.py_buffer(left_offsets), pa.py_buffer(lefts)],
        nulls,
    )
    times = pa.Array.from_buffers(pa.int64(), len(values) // 8, [None, pa.py_buffer(values)])
    return events, pa.Array.from_buffers(
        pa.list_(pa.int64()),
        count,
        [validity_buffer, pa.py_buffer(list_offsets)],
        nulls,
        children=[times],
    )


def events(start_ns: int, offsets: Sequence[int] | None, text: str | None) -> tuple[Event, ...]:
    """The events of a stored span that starts at ``start_ns``."""
    if offsets is None:
        return decode_events(text)
    rows = json.loads(text) if text else []
    return tuple(
        Event(start_ns + offset, name, attributes_from_json(attrs), dropped)
        for offset, (name, attrs, dropped) in zip(offsets, rows, strict=True)
    )
