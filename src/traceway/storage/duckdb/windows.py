"""Time windows for searching newest first, so a search can stop at the newest matches.

Spans are appended roughly in time order, so DuckDB's per-row-group min/max of the
start time lets a query on a recent window skip the older row groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["TimeRange", "search_windows"]

FIRST_WINDOW_SHARE = 64
"""The first (newest) window covers 1/64 of the searched time; each next one doubles."""
MIN_WINDOW_NS = 60 * 10**9


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The earliest and the latest start time of the stored spans."""

    start_min_ns: int
    start_max_ns: int

    def including(self, start_min_ns: int, start_max_ns: int) -> TimeRange:
        return TimeRange(min(self.start_min_ns, start_min_ns), max(self.start_max_ns, start_max_ns))


def search_windows(
    start_min_ns: int | None, start_max_ns: int | None, stored: TimeRange | None
) -> Iterator[tuple[int | None, int | None]]:
    """Disjoint inclusive windows covering [start_min_ns, start_max_ns], newest first.

    None is an open end. The first window is open above and the last open below
    wherever the query is, so spans outside ``stored`` (written since it was read)
    are still found: ``stored`` only decides where the windows are cut.
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
        width *= 2
        edge -= width
    yield start_min_ns, upper
