"""Newest-first search windows: they cover the searched time exactly once, in order,
and grow as fast as the matches found so far say they should."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest

from traceway.storage.duckdb.windows import MIN_WINDOW_NS, TimeRange, search_windows

_HOUR = 3_600 * 10**9


def _check_cover(
    windows: list[tuple[int | None, int | None]], low: int | None, high: int | None
) -> None:
    """Disjoint, newest first, together exactly [low, high] (None: open)."""
    assert windows[0][1] == high
    assert windows[-1][0] == low
    for newer, older in pairwise(windows):
        assert newer[0] is not None and older[1] == newer[0] - 1
    for start, end in windows:
        assert start is None or end is None or start <= end


@pytest.mark.parametrize("seed", range(20))
def test_windows_cover_the_query_once_whatever_is_found(seed: int) -> None:
    rnd = random.Random(seed)
    stored = TimeRange(rnd.randrange(10 * _HOUR), rnd.randrange(10 * _HOUR, 40 * _HOUR))
    low = rnd.choice([None, rnd.randrange(50 * _HOUR)])
    high = rnd.choice([None, rnd.randrange(low or 0, 60 * _HOUR)])
    counts = iter(sorted(rnd.randrange(20) for _ in range(100)))
    windows = list(search_windows(low, high, stored, lambda: next(counts), 20))
    _check_cover(windows, low, high)


def test_a_rare_match_is_looked_for_in_one_wide_step() -> None:
    day = 24 * _HOUR
    stored = TimeRange(0, day)
    doubling = search_windows(0, day, stored)
    adaptive = search_windows(0, day, stored, lambda: 1, 20)
    first = next(doubling)
    assert next(adaptive) == first
    covered = day - first[0] + 1
    # One match in the first 1/64 of the day: the other 19 need about 19 times as much.
    start, end = next(adaptive)
    assert start is not None and end is not None
    assert end - start + 1 == 19 * covered * 5 // 4
    assert next(doubling)[0] == first[0] - 2 * covered


def test_without_matches_the_windows_double() -> None:
    stored = TimeRange(0, 64 * 10 * MIN_WINDOW_NS)
    windows = list(search_windows(None, None, stored, lambda: 0, 20))
    widths = [
        end - start + 1 for start, end in windows[1:-1] if start is not None and end is not None
    ]
    assert widths == [2 * 10 * MIN_WINDOW_NS * 2**n for n in range(len(widths))]
    _check_cover(windows, None, None)
