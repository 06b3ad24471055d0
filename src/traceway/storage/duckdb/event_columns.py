"""A span's events in two columns: their times as offsets from the span's start, the rest as text.

Events come as typed JSON, ``[[time, name, attributes, dropped], ...]``
(``storage.typed_json``). Stored as they come, the nanosecond times make every text
unique; without them, spans of one kind mostly share the text (``message`` events of
gRPC calls, the same exception) and DuckDB's dictionary stores it once. The times go
to a list of integers, each minus the span's start: small numbers, bit-packed.

The split is made by DuckDB's JSON functions, and kept only when DuckDB writes the
events back exactly as they came (so the text left reads back as the same values)
and every offset fits a BIGINT: else (a float written another way, a time past
2262) the events stay as they came and the offsets are NULL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from traceway.model import Event
from traceway.storage.typed_json import decode_events, from_json

__all__ = ["EVENT_COLUMNS", "EVENT_OFFSETS", "events"]

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


def events(start_ns: int, offsets: Sequence[int] | None, text: str | None) -> tuple[Event, ...]:
    """The events of a stored span that starts at ``start_ns``."""
    if offsets is None:
        return decode_events(text)
    rows = json.loads(text) if text else []
    return tuple(
        Event(
            start_ns + offset,
            name,
            {key: from_json(value) for key, value in attrs.items()},
            dropped,
        )
        for offset, (name, attrs, dropped) in zip(offsets, rows, strict=True)
    )
