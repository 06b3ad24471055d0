"""The ids of the spans committed lately: a batch none of whose spans can be stored needs no lookup.

The writer stores a span only if no span with its trace id, span id and start time is
stored (``writer``); finding that out is a query that costs a commit some 2 to 4 ms
however few spans it has, most of the time of a small commit's fixed part. Nearly
always the answer is "none": a span is sent again only when an exporter retries.

``RecentSpans`` holds the span ids of every stored span that started at or after a
threshold, in two generations: ``current`` for spans that started at or after
``current_from``, ``previous`` for those between ``previous_from`` and it. When none
of a batch's span ids is among them and none of its spans started before
``previous_from``, none of its spans is stored, and the query is skipped. Otherwise
(a span id seen before, or a span older than the threshold) the query runs, so the
answer is always exact: the ids only ever say "maybe".

When ``current`` holds ``capacity`` ids it becomes ``previous`` and a new one starts
from just after the latest start stored: no stored span started that late, so every
stored span that the new generation is meant to cover is committed after it starts,
and added to it. Memory stays under two generations (about 9 MB each at the default
capacity); deleted spans leave their ids behind, which at worst costs a query.
Span ids are compared alone (random 64-bit numbers rarely meet); the trace id and
start time are the query's to compare.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

__all__ = ["RECENT_SPAN_IDS", "RecentSpans"]

RECENT_SPAN_IDS = 131_072
"""Span ids in a generation: with two, the last 131,072 to 262,144 spans committed."""


class RecentSpans:
    """Which span ids might be stored, for spans that started lately; one thread at a time."""

    def __init__(self, latest_stored_start_ns: int | None, capacity: int = RECENT_SPAN_IDS) -> None:
        # With nothing stored, every start is covered.
        start = -(2**63) if latest_stored_start_ns is None else latest_stored_start_ns + 1
        self._capacity = capacity
        self._previous: set[int] = set()
        self._current: set[int] = set()
        self._previous_from = start
        self._current_from = start
        self._latest_start = latest_stored_start_ns

    def may_be_stored(self, span_ids: Collection[int], earliest_start_ns: int) -> bool:
        """False only when no span of a batch (its span ids, as the unsigned integers they
        are stored as, and its earliest start) can be stored."""
        if earliest_start_ns < self._previous_from:
            return True
        return not (self._current.isdisjoint(span_ids) and self._previous.isdisjoint(span_ids))

    def add(self, span_ids: Iterable[int], latest_start_ns: int) -> None:
        """Count a committed batch's spans (span ids, latest start) as stored."""
        self._current.update(span_ids)
        if self._latest_start is None or latest_start_ns > self._latest_start:
            self._latest_start = latest_start_ns
        if len(self._current) >= self._capacity:
            self._previous, self._current = self._current, set()
            self._previous_from = self._current_from
            self._current_from = self._latest_start + 1
