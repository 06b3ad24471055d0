"""How numbers and instants read (the JavaScript in static/format.js follows the same rules)."""

from __future__ import annotations

import pytest

from traceway.ui.formatting import (
    PALETTE_SIZE,
    colour_indexes,
    colour_of,
    format_count,
    format_duration,
    format_number,
    format_percent,
    format_rate,
    format_utc,
)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0 ns"),
        (850, "850 ns"),
        (1_234, "1.23 µs"),
        (45_600_000, "45.6 ms"),
        (999_700_000, "1000 ms"),
        (2_500_000_000, "2.5 s"),
        (192_000_000_000, "3.2 min"),
        (-1_000, "-1 µs"),
    ],
)
def test_durations_have_three_significant_digits(ns: int, text: str) -> None:
    assert format_duration(ns) == text


def test_instants_are_utc_to_the_millisecond() -> None:
    ns = 1_714_564_800_123_456_789
    assert format_utc(ns) == "2024-05-01 12:00:00.123 UTC"
    assert format_utc(ns, with_date=False) == "12:00:00.123"


def test_percentages_and_rates() -> None:
    assert [format_percent(f) for f in (0, 0.005, 0.0833, 0.5, 1)] == [
        "0%",
        "0.5%",
        "8.3%",
        "50%",
        "100%",
    ]
    assert [format_rate(r) for r in (12.34, 0.5, 1 / 3600)] == ["12.3/s", "30/min", "1/h"]


def test_counts_group_thousands_and_agree_with_their_number() -> None:
    assert [format_number(n) for n in (7, 60_000)] == ["7", "60,000"]
    assert [format_count(n, "span") for n in (0, 1, 2, 60_000)] == [
        "0 spans",
        "1 span",
        "2 spans",
        "60,000 spans",
    ]


def test_service_colours_follow_the_sorted_names_and_wrap() -> None:
    names = [f"svc-{i:02d}" for i in range(PALETTE_SIZE + 1)]
    colours = colour_indexes(reversed(names))
    assert [colours[n] for n in names] == [*range(PALETTE_SIZE), 0]
    assert colour_of("svc-03", colours) == 3
    assert colour_of("new", colours) == colour_of("new", {})  # stable for unknown services
