"""The C split of events (``_events_native``) makes what the Python split makes.

The Python split learns each shape it verifies; the C module splits a batch only when
every text has a learned shape. So each batch is split twice: the first time teaches
the shapes, the second must give, from C, what the Python alone gives.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traceway.storage.duckdb import _events_native as native
from traceway.storage.duckdb import event_columns

_START = 1_750_000_000_000_000_000
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@pytest.fixture(autouse=True)
def _no_shapes() -> Iterator[None]:
    native.forget()
    event_columns._SHAPES.clear()
    yield
    native.forget()
    event_columns._SHAPES.clear()


def _python_only(
    first: tuple[pa.Array, pa.Array], then: tuple[pa.Array, pa.Array]
) -> tuple[pa.Array, pa.Array] | None:
    """The Python split of ``then``, taught by ``first`` as the native one is."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(event_columns, "_events_native", None)
        patch.setattr(event_columns, "_SHAPES", set())
        event_columns.split_events(*first)
        return event_columns.split_events(*then)


def _native(
    first: tuple[pa.Array, pa.Array], then: tuple[pa.Array, pa.Array]
) -> tuple[pa.Array, pa.Array] | None:
    native.forget()
    event_columns.split_events(*first)
    return event_columns.split_events(*then)


def _same(left: tuple[pa.Array, pa.Array] | None, right: tuple[pa.Array, pa.Array] | None) -> None:
    assert (left is None) == (right is None)
    if left is not None and right is not None:
        for mine, theirs in zip(left, right, strict=True):
            mine.validate(full=True)
            assert mine.to_pylist() == theirs.to_pylist()


_TIMES = st.one_of(
    *[st.integers(_START - 10**9, _START + 10**12)] * 6,
    st.integers(-(10**6), 10**6),
    st.sampled_from([0, _INT64_MIN, _INT64_MAX, _INT64_MAX + 1, _INT64_MIN - 1, 2**64 - 1]),
)
_PLAIN_NAMES = ["a", "b c", "GET /x", "[x", "a]", "q[-x", "[[9"]
_PLAIN_ATTRIBUTES = ["{}", '{"n":"[a"}', '{"k":[[1]]}', '{"t":true}']
# Names and attributes with what looks like a time, or not plain: never learned.
_OTHER_NAMES = ["x[12,y", "[0,", "\u00e9", "a\\u00e9", 'q\\"']
_OTHER_ATTRIBUTES = ['{"n":[1,2]}', '{"f":2.5}', '{"b":[-4,"x"]}']
_OTHER_TEXTS = ["[]", "[1]", '{"a":1}', '[[1.5,"a",{},0]]', '[[5, "a",{},0]]']


@st.composite
def _rows(draw: st.DrawFn) -> list[object]:
    """Texts as templates without their times: ``None``, a text, or events' (name,
    attributes, dropped). Half the batches have only shapes that can be learned."""
    plain = draw(st.booleans())
    names = _PLAIN_NAMES if plain else _PLAIN_NAMES + _OTHER_NAMES
    attributes = _PLAIN_ATTRIBUTES if plain else _PLAIN_ATTRIBUTES + _OTHER_ATTRIBUTES
    event = st.tuples(st.sampled_from(names), st.sampled_from(attributes), st.integers(0, 2))
    row = st.one_of(
        st.none(), st.lists(event, min_size=1, max_size=3), st.lists(event, min_size=1, max_size=3)
    )
    if not plain:
        row = st.one_of(row, st.sampled_from(_OTHER_TEXTS))
    return draw(st.lists(row, max_size=10))


def _texts(rows: list[object], times: list[int]) -> pa.Array:
    texts: list[str | None] = []
    for number, row in enumerate(rows):
        if row is None or isinstance(row, str):
            texts.append(row)
            continue
        assert isinstance(row, list)
        events = [
            f'[{times[(number + k) % len(times)]},"{name}",{attributes},{dropped}]'
            for k, (name, attributes, dropped) in enumerate(row)
        ]
        texts.append("[" + ",".join(events) + "]")
    return pa.array(texts, pa.string())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=_rows(),
    first_times=st.lists(st.integers(-(10**6), _START + 10**12), min_size=1, max_size=5),
    then_times=st.lists(_TIMES, min_size=1, max_size=5),
    starts=st.lists(st.sampled_from([_START] * 8 + [0, -5, _INT64_MIN, _INT64_MAX]), min_size=13),
    cut=st.integers(0, 3),
)
def test_the_c_split_is_the_python_split(
    rows: list[object], first_times: list[int], then_times: list[int], starts: list[int], cut: int
) -> None:
    """Shapes learned from a batch, then a batch of the same shapes at other times."""
    first = (_texts(rows, first_times), pa.array([_START] * len(rows), pa.int64()))
    # Sliced, so that the texts' offsets, data and validity bits start inside buffers.
    texts = pa.concat_arrays([pa.nulls(cut, pa.string()), _texts(rows, then_times)]).slice(cut)
    then = (texts, pa.array(starts[1 : len(rows) + 1] + [0] * cut, pa.int64()).slice(0, len(rows)))
    _same(_native(first, then), _python_only(first, then))


def test_a_batch_of_known_shapes_is_split_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = pa.array(
        [f'[[{_START + i},"msg [x",{{"n":"[a"}},0],[{_START},"b",{{}},0]]' for i in range(50)]
        + [None],
        pa.string(),
    )
    starts = pa.array([_START] * 51, pa.int64())
    learned = event_columns.split_events(texts.slice(0, 1), starts.slice(0, 1))
    assert learned is not None

    def no_python(*args: object) -> None:
        raise AssertionError("split in Python")

    monkeypatch.setattr(event_columns, "_split", no_python)
    monkeypatch.setattr(event_columns, "_known", no_python)
    split = event_columns.split_events(texts, starts)
    assert split is not None
    events, offsets = split
    assert events.to_pylist()[:2] == ['[["msg [x",{"n":"[a"},0],["b",{},0]]'] * 2
    assert events.to_pylist()[50] is None
    assert offsets.to_pylist()[3] == [3, 0]
    assert offsets.to_pylist()[50] is None


def test_a_known_shape_whose_offset_does_not_fit_leaves_the_batch_to_duckdb() -> None:
    text = f'[[{_START},"a",{{}},0]]'
    assert event_columns.split_events(pa.array([text]), pa.array([0], pa.int64())) is not None
    starts = pa.array([0, _INT64_MIN], pa.int64())  # _START - INT64_MIN does not fit
    assert native.split(2, *_buffers(pa.array([text, text])), starts.buffers()[1]) is False
    assert event_columns.split_events(pa.array([text, text]), starts) is None


def _buffers(texts: pa.Array) -> tuple[bytes, bytes, None, int]:
    _, offsets, data = texts.buffers()
    return offsets.to_pybytes(), data.to_pybytes(), None, 0


def test_unknown_shapes_are_left_to_the_python() -> None:
    texts = pa.array(['[[5,"never seen",{},0]]'])
    assert native.split(1, *_buffers(texts), pa.array([0], pa.int64()).buffers()[1]) is None


def test_the_registry_learns_and_forgets_at_most() -> None:
    keys = [f"shape {i}".encode() for i in range(5)]
    for key in keys[:3]:
        native.remember(key, 3)
    assert all(native.known(key) for key in keys[:3])
    native.remember(keys[3], 3)  # full: forgets the others first
    assert [native.known(key) for key in keys] == [False, False, False, True, False]
    native.forget()
    assert not native.known(keys[3])


@pytest.mark.parametrize(
    ("count", "offsets", "data"),
    [
        (2, [0, 3], b"abc"),  # too few offsets
        (1, [0, 9], b"abc"),  # past the data
        (2, [0, 3, 1], b"abc"),  # going back
        (1, [-1, 2], b"abc"),
        (-1, [0], b""),
    ],
)
def test_buffers_that_do_not_hold_the_rows_are_refused(
    count: int, offsets: list[int], data: bytes
) -> None:
    starts = pa.array([0, 0, 0], pa.int64()).buffers()[1]
    with pytest.raises(ValueError, match="the buffers do not hold the rows given"):
        native.split(count, pa.array(offsets, pa.int32()).buffers()[1], data, None, 0, starts)


def test_buffers_need_not_be_aligned() -> None:
    text = f'[[{_START + 5},"a",{{}},0]]'
    native.remember(event_columns._shape_key(["[", '"a",{},0]]']), 10)
    offsets, data, _, _ = _buffers(pa.array([text]))
    starts = pa.array([_START], pa.int64()).buffers()[1].to_pybytes()
    found = native.split(
        1, memoryview(b"\0" + offsets)[1:], data, None, 0, memoryview(b"\0" + starts)[1:]
    )
    assert isinstance(found, tuple)
    assert found[1] == b'[["a",{},0]]'
    assert found[3] == (5).to_bytes(8, "little")


def test_the_validity_is_bytes_or_none_not_text() -> None:
    offsets, data, _, _ = _buffers(pa.array(["[]"]))
    with pytest.raises(TypeError):
        native.split(1, offsets, data, "\x01", 0, bytes(8))  # type: ignore[arg-type]


def test_an_empty_key_can_be_looked_up() -> None:
    assert not native.known(b"")
    native.remember(b"", 10)
    assert native.known(b"")


@pytest.mark.parametrize(
    "starts",
    [
        pa.array([_START, None], pa.int64()),
        pa.array([5, 5], pa.int32()),
        pa.array([], pa.int64()),
    ],
)
def test_what_the_c_module_does_not_take_is_left_to_the_python(starts: pa.Array) -> None:
    texts = pa.array([f'[[{_START},"a",{{}},0]]', None][: len(starts)], pa.string())
    event_columns.split_events(texts, pa.array([_START] * len(starts), pa.int64()))  # learned
    assert event_columns._split_natively(texts, starts) is True
