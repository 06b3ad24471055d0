"""Time windows for searching newest first, so a search can stop at the newest matches.

Spans are appended roughly in time order, so DuckDB's per-row-group min/max of the
start time lets a query on a recent window skip the older row groups.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["TimeRange", "search_windows"]

FIRST_WINDOW_SHARE = 64
"""The first (newest) window covers 1/64 of the searched time (see ``search_windows``)."""
MIN_WINDOW_NS = 60 * 10**9


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The earliest and the latest start time of the stored spans."""

    start_min_ns: int
    start_max_ns: int

    def including(self, other: TimeRange) -> TimeRange:
        return TimeRange(
            min(self.start_min_ns, other.start_min_ns), max(self.start_max_ns, other.start_max_ns)
        )


def search_windows(
    start_min_ns: int | None,
    start_max_ns: int | None,
    stored: TimeRange | None,
    found: Callable[[], int] | None = None,
    wanted: int = 0,
) -> Iterator[tuple[int | None, int | None]]:
    """Disjoint inclusive windows covering [start_min_ns, start_max_ns], newest first.

    None is an open end. The first window is open above and the last open below
    wherever the query is, so spans outside ``stored`` (written since it was read)
    are still found: ``stored`` only decides where the windows are cut.

    Each window is twice as wide as the one before, until ``found`` (asked after
    each window) says how many of the ``wanted`` matches the windows so far held:
    then the next window is as wide as the rate found so far says the rest needs,
    and a quarter more, so that a rare match is not looked for in many small steps.
    """
    if stored is None:
        yield start_min_ns, start_max_ns
        return
    low = stored.start_min_ns if start_min_ns is None else max(start_min_ns, stored.start_min_ns)
    high = stored.start_max_ns if start_max_ns is None else min(start_max_ns, stored.start_max_ns)
    width = max((high - low) // FIRST_WINDOW_SHARE, MIN_WINDOW_NS)
    upper = start_max_ns
    edge = high - width
    while edge > low:
        yield edge + 1, upper
        upper = edge
        matches = found() if found is not None else 0
        if 0 < matches < wanted:
            width = max((wanted - matches) * (high - edge) * 5 // (4 * matches), MIN_WINDOW_NS)
        else:
            width *= 2
        edge -= width
    yield start_min_ns, upper
