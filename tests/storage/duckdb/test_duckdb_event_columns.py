"""The events split made in Python is the one DuckDB's JSON functions make."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from traceway.storage.duckdb.event_columns import (
    EVENT_COLUMNS,
    EVENT_OFFSETS,
    SPLIT_IN_PYTHON,
    split_events,
)

_START = 1_750_000_000_000_000_000
_EVENTS = [
    f'[[{_START + 5},"a",{{}},0]]',
    f'[[{_START},"a",{{"kv":{{"b":[1,2,{{"b":"AAE="}}]}}}},3],[{_START + 9},"b",{{"c":null}},0]]',
    f'[[{_START},"a/b",{{"d":[true,false,-7]}},0]]',
    '[[-5,"before 1970",{},0]]',
    f'[[{_START}, "a",{{}},0]]',  # not compact
    f'[[{_START},"a",{{"x":1.5}},0]]',
    f'[[{_START},"a",{{"x":1e+100}},0]]',  # DuckDB writes 1e100
    f'[[{_START},"a",{{"x":100000.0}},0]]',
    f'[[{_START},"a",{{"x":NaN}},0]]',
    f'[[{_START},"a",{{"x":123456789012345678901234567890}},0]]',
    f'[[{_START},"a",{{"x":-9223372036854775809}},0]]',
    f'[[{_START},"a",{{"x":18446744073709551615}},0]]',
    f'[[{_START},"a",{{"x":-0}},0]]',
    '[[-0,"a",{},0]]',
    '[[99999999999999999999999,"a",{},0]]',
    f'[[{2**64 - 1},"a",{{}},0]]',
    f'[[{_START - 2**63 - 10},"a",{{}},0]]',  # the offset does not fit
    '[[1.5,"a",{},0]]',
    '[[true,"a",{},0]]',
    f'[[{_START},"a",{{}}]]',
    f'[[{_START},"a",{{}},0,1]]',
    f'[[{_START},"\u00e9",{{}},0]]',
    f'[[{_START},"a\\u00e9",{{}},0]]',
    f'[[{_START},"a\\/b",{{}},0]]',
    f'[[{_START},"a\\"q",{{}},0]]',
    f'[[{_START},"a",{{"k":1,"k":2}},0]]',
    f'[[{_START},"\u2028",{{}},0]]',
    "[]",
    "[1]",
    '{"a":1}',
]


def _duckdb_split(texts: list[str | None]) -> list[tuple[str | None, list[int] | None]]:
    table = pa.table(
        {
            "seq": pa.array(range(len(texts)), pa.int32()),
            "events": pa.array(texts, pa.string()),
            "start_time_ns": pa.array([_START] * len(texts), pa.int64()),
        }
    )
    con = duckdb.connect()
    con.register("s", table)
    sql = f"SELECT seq, {EVENT_COLUMNS} FROM (SELECT seq, {EVENT_OFFSETS} FROM s) ORDER BY seq"
    return [(text, offsets) for _, offsets, text in con.execute(sql).fetchall()]


@pytest.mark.parametrize("text", _EVENTS)
def test_split_in_python_is_duckdbs_or_not_made(text: str) -> None:
    expected = _duckdb_split([text])
    split = split_events(pa.array([text], pa.string()), pa.array([_START], pa.int64()))
    if split is not None:
        events, offsets = split
        assert list(zip(events.to_pylist(), offsets.to_pylist(), strict=True)) == expected


def test_plain_events_are_split_in_python() -> None:
    texts = [_EVENTS[0], None, _EVENTS[1], _EVENTS[2], _EVENTS[3]]
    split = split_events(pa.array(texts, pa.string()), pa.array([_START] * 5, pa.int64()))
    assert split is not None
    events, offsets = split
    assert list(zip(events.to_pylist(), offsets.to_pylist(), strict=True)) == _duckdb_split(texts)
    assert offsets.to_pylist()[:3] == [[5], None, [0, 9]]


def test_one_span_with_other_events_leaves_the_batch_to_duckdb() -> None:
    texts = [_EVENTS[0], f'[[{_START},"a",{{"x":1e+100}},0]]']
    assert split_events(pa.array(texts, pa.string()), pa.array([_START] * 2, pa.int64())) is None


def test_many_spans_with_events_of_new_shapes_are_left_to_duckdb() -> None:
    texts = [f'[[{_START},"many {i}",{{}},0]]' for i in range(SPLIT_IN_PYTHON + 1)]
    starts = pa.array([_START] * len(texts), pa.int64())
    assert split_events(pa.array(texts, pa.string()), starts) is None
    assert split_events(pa.array(texts[1:], pa.string()), starts[1:]) is not None


def test_events_of_a_known_shape_are_split_in_python_however_many() -> None:
    texts: list[str | None] = [
        f'[[{_START + i},"known",{{"n":1}},0],[{_START + 3 * i},"known",{{"n":[[1],[2]]}},0]]'
        for i in range(3 * SPLIT_IN_PYTHON)
    ]
    texts[5] = None
    split = split_events(pa.array(texts, pa.string()), pa.array([_START] * len(texts), pa.int64()))
    assert split is not None
    events, offsets = split
    assert list(zip(events.to_pylist(), offsets.to_pylist(), strict=True)) == _duckdb_split(texts)


@pytest.mark.parametrize("text", _EVENTS)
def test_events_of_a_known_shape_split_as_duckdb_splits_them(text: str) -> None:
    first = split_events(pa.array([text], pa.string()), pa.array([_START], pa.int64()))
    other_times = text.replace(str(_START), str(_START + 123_456_789)).replace("[-5,", "[7,")
    too_early = text.replace(str(_START), str(-(2**63)))
    for variant in (other_times, too_early):
        split = split_events(pa.array([variant], pa.string()), pa.array([_START], pa.int64()))
        if split is not None:
            events, offsets = split
            expected = _duckdb_split([variant])
            assert list(zip(events.to_pylist(), offsets.to_pylist(), strict=True)) == expected
        elif variant == other_times:
            assert first is None  # a shape split once is split again
