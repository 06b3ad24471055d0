"""The C split of attribute entries makes exactly what the Arrow one makes.

``attribute_columns.split_entries_arrow`` is the reference; ``_entries_native.split``
must give the same set texts, lists and (key, type letter) pairs for any entry lists,
sliced or not, and hand back to it what it does not take.
"""

from __future__ import annotations

import pickle
import threading

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traceway.storage.attribute_entries import SEPARATOR
from traceway.storage.duckdb import _entries_native
from traceway.storage.duckdb import attribute_columns as columns
from traceway.storage.duckdb.attribute_columns import (
    REPEATS_FOR_COMMON,
    SplitEntries,
    split_entries,
    split_entries_arrow,
)

_LISTS = pa.list_(pa.string())


def _native(lists: pa.Array) -> SplitEntries:
    found = columns._split_natively(lists)
    assert found is not None, "the C split left lists it should take"
    return found


def _assert_same(native: SplitEntries, reference: SplitEntries) -> None:
    assert native.common.cast(pa.string()).to_pylist() == reference.common.to_pylist()
    assert native.common.dictionary.to_pylist() == native.common.dictionary.unique().to_pylist()
    assert native.varying.to_pylist() == reference.varying.to_pylist()
    if reference.with_rs is None:
        assert native.with_rs is None
    else:
        assert native.with_rs is not None
        assert native.with_rs.to_pylist() == reference.with_rs.to_pylist()
    assert native.types == reference.types


_KEYS = st.sampled_from(["route", "user", "k", "é", "a.b", "", "x" * 40, "route2"])
_LETTERS = st.sampled_from(["s", "i", "d", "b", "é", "€", "😀", ""])
_VALUES = st.one_of(
    st.sampled_from(["", "/users", "GET", "x" * 100, "a\x1eb", "\x1e", "ü"]),
    st.text(max_size=12),
)
_ENTRIES = st.builds(lambda k, t, v: k + SEPARATOR + t + v, _KEYS, _LETTERS, _VALUES)


@settings(max_examples=300, deadline=None)
@given(
    lists=st.lists(st.lists(_ENTRIES, max_size=12), max_size=60),
    repeat=st.integers(1, 40),
    cut=st.integers(0, 5),
)
def test_the_same_as_arrow_for_any_entry_lists(
    lists: list[list[str]], repeat: int, cut: int
) -> None:
    # Repeating the lists makes some keys common, as spans of one kind do.
    array = pa.array(lists * repeat, _LISTS)
    array = array.slice(min(cut, len(array)))
    _assert_same(_native(array), split_entries_arrow(array))


def test_the_threshold_is_the_same() -> None:
    at = [[f"k{SEPARATOR}sv{n % 2}"] for n in range(2 * REPEATS_FOR_COMMON)]
    below = at[:-1]
    for lists in (at, below):
        array = pa.array(lists, _LISTS)
        native = _native(array)
        _assert_same(native, split_entries_arrow(array))
    assert _native(pa.array(at, _LISTS)).common.cast(pa.string())[0].as_py() != ""
    assert _native(pa.array(below, _LISTS)).common.cast(pa.string())[0].as_py() == ""


def test_lists_over_a_sliced_child_and_chunked_arrays() -> None:
    entries = pa.array([f"k{SEPARATOR}s{n % 3}" for n in range(200)], pa.string())
    child = entries.slice(7, 150)
    offsets = pa.array(list(range(0, 151, 3)), pa.int32())
    array = pa.ListArray.from_arrays(offsets, child).slice(4, 30)
    _assert_same(_native(array), split_entries_arrow(array))
    chunked = pa.chunked_array([array.slice(0, 10), array.slice(10)])
    _assert_same(split_entries(chunked), split_entries_arrow(array))


def test_empty_batches_and_empty_lists() -> None:
    for lists in ([], [[]], [[], [], []]):
        array = pa.array(lists, _LISTS)
        _assert_same(_native(array), split_entries_arrow(array))


def test_the_benchmark_traffic() -> None:
    """Entry lists like the benchmark's: many spans of few kinds, each with ~10 entries."""
    kinds = [
        [f"http.route{SEPARATOR}s/api/{k}", f"http.request.method{SEPARATOR}sGET"] for k in range(5)
    ]
    lists = [
        [*kinds[n % 5], f"user.id{SEPARATOR}su{n}", f"server.port{SEPARATOR}i{8000 + n % 3}"]
        for n in range(8192)
    ]
    array = pa.array(lists, _LISTS)
    native = _native(array)
    _assert_same(native, split_entries_arrow(array))
    assert len(native.common.dictionary) == 15  # 5 routes by 3 ports
    # What it hands back can be written and read again as any Arrow array.
    common, varying = pickle.loads(pickle.dumps((native.common, native.varying)))
    assert common.equals(native.common) and varying.equals(native.varying)


def test_an_entry_without_a_separator_is_left_to_arrow() -> None:
    array = pa.array([["no separator"], [f"k{SEPARATOR}sv"]], _LISTS)
    assert columns._split_natively(array) is None


def test_entries_without_an_offsets_buffer_are_left_to_arrow() -> None:
    no_strings = pa.Array.from_buffers(pa.string(), 0, [None, None, pa.py_buffer(b"")])
    array = pa.ListArray.from_arrays(pa.array([0, 0], pa.int32()), no_strings)
    assert columns._split_natively(array) is None


def test_nulls_and_other_types_are_left_to_arrow() -> None:
    entry = f"k{SEPARATOR}sv"
    for array in (
        pa.array([[entry], None], _LISTS),
        pa.array([[entry], [None]], _LISTS),
        pa.array([[entry]], pa.list_(pa.large_string())),
        pa.array([[entry]], pa.large_list(pa.string())),
    ):
        assert columns._split_natively(array) is None


def test_buffers_that_do_not_hold_the_lists_are_refused() -> None:
    entry = f"k{SEPARATOR}sv".encode()
    offsets = pa.array([0, len(entry)], pa.int32()).buffers()[1]
    lists = pa.array([0, 1], pa.int32()).buffers()[1]
    cases = [
        (2, lists, offsets, entry),  # two lists, offsets of one
        (1, pa.array([0, 2], pa.int32()).buffers()[1], offsets, entry),  # two entries
        (1, lists, offsets, entry[:-1]),  # data too short
        (1, pa.array([1, 0], pa.int32()).buffers()[1], offsets, entry),  # backwards
        (1, lists, pa.array([3, 0], pa.int32()).buffers()[1], entry),  # backwards entry
    ]
    for count, list_offsets, entry_offsets, data in cases:
        with pytest.raises(ValueError, match="do not hold the lists"):
            _entries_native.split(count, 16, list_offsets, 0, entry_offsets, data)
    with pytest.raises(ValueError, match="do not hold the lists"):  # not 4-byte aligned
        _entries_native.split(1, 16, memoryview(b"\0" + bytes(lists))[1:], 0, offsets, entry)
    for count, child_offset in ((1, 1), (2**62, 0), (1, 2**62), (-1, 0), (1, -1)):
        with pytest.raises(ValueError, match="do not hold the lists"):  # and never overflow
            _entries_native.split(count, 16, lists, child_offset, offsets, entry)


def test_threads_at_once_get_the_same() -> None:
    lists = [
        [f"route{SEPARATOR}s/r{n % 7}", f"user{SEPARATOR}su{n}", f"m{SEPARATOR}s{n % 2}"]
        for n in range(5000)
    ]
    array = pa.array(lists, _LISTS)
    expected = split_entries_arrow(array)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(20):
                _assert_same(_native(array), expected)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
