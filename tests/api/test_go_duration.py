from __future__ import annotations

import pytest

from traceway.api.go_duration import parse_go_duration

SECOND = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("1.5h", 5_400 * SECOND),
        ("300ms", 300_000_000),
        ("1m30s", 90 * SECOND),
        ("10us", 10_000),
        ("10\u00b5s", 10_000),
        ("10\u03bcs", 10_000),
        ("100ns", 100),
        ("0", 0),
        (".5s", SECOND // 2),
        ("1.s", SECOND),
        ("+2s", 2 * SECOND),
        ("-2s", -2 * SECOND),
        ("1h2m3s4ms5us6ns", 3_723_004_005_006),
        ("1.0000000005s", SECOND),  # sub-nanosecond fractions are truncated, as in Go
    ],
)
def test_parses_what_go_parses(text: str, nanos: int) -> None:
    assert parse_go_duration(text) == nanos


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1", "missing unit"),
        ("1.5", "missing unit"),
        ("1s5", "missing unit"),
        ("", "invalid duration"),
        ("ms", "invalid duration"),
        (".", "invalid duration"),
        ("1x", "unknown unit 'x'"),
        ("1 s", "unknown unit ' s'"),
        ("1d", "unknown unit 'd'"),
        ("3000000h", "too large"),
    ],
)
def test_rejects_what_go_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_go_duration(text)
    assert repr(text) in str(caught.value)
