"""Vectorised looks at a ``SpanBatch``'s columns: which rows may need a processor's work.

Each function answers for a whole column at once with ``pyarrow.compute``, so the
common case (nothing to do) costs no Python per span. Answers may include rows
that turn out to need nothing (the processor checks them one by one) but never
leave out one that does. Patterns are RE2, the engine of ``pyarrow.compute``.
"""

from __future__ import annotations

import array
from collections.abc import Iterable
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "any_text_matches",
    "count_above_rows",
    "entry_length_above",
    "entry_rows",
    "length_above_rows",
    "list_length_above_rows",
    "longest",
    "matching_rows",
    "non_null_rows",
]


def _chunks(column: Any) -> list[Any]:
    return list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]


def _strings(chunk: Any) -> Any:
    """The strings of a string chunk, or the entries of a list-of-strings chunk."""
    return chunk.flatten() if pa.types.is_list(chunk.type) else chunk


def _rows(mask: Any, base: int = 0) -> list[int]:
    indices: list[int] = pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist()
    return [base + index for index in indices] if base else indices


def _whole_text(strings: Any) -> Any:
    """All of ``strings`` as one string value over the same memory (no copy), or None."""
    if len(strings) == 0 or strings.null_count == len(strings):
        return None
    large = pa.types.is_large_string(strings.type)
    width: Literal["i", "q"] = "q" if large else "i"
    size = 8 if large else 4
    offsets = memoryview(strings.buffers()[1]).cast("B")
    first = strings.offset * size
    bounds = offsets[first : first + (len(strings) + 1) * size].cast(width)
    span = array.array(width, [bounds[0], bounds[-1]])
    text_type = pa.large_string() if large else pa.string()
    return pa.Array.from_buffers(text_type, 1, [None, pa.py_buffer(span), strings.buffers()[2]])


def any_text_matches(columns: Iterable[Any], pattern: str) -> bool:
    """Whether ``pattern`` matches anywhere in the columns' text, values run together.

    One regex pass over all the data instead of one per value (and one compile of
    the pattern, which costs as much as scanning tens of kilobytes); a match may
    straddle two values, which only makes the answer "maybe".
    """
    texts = [
        text
        for column in columns
        for chunk in _chunks(column)
        if (text := _whole_text(_strings(chunk))) is not None
    ]
    if not texts:
        return False
    if len(texts) > 1:
        # One array of the texts: copies them, which is cheaper than compiling again.
        if len({text.type for text in texts}) > 1:
            texts = [text.cast(pa.large_string()) for text in texts]
        texts = [pa.concat_arrays(texts)]
    return bool(pc.any(pc.match_substring_regex(texts[0], pattern)).as_py())


def entry_rows(column: Any, pattern: str, strip: str | None = None) -> list[int]:
    """Rows of a list-of-strings column with an entry that ``pattern`` matches, after
    the entry's first match of ``strip``, if given, is taken out."""
    rows: list[int] = []
    base = 0
    for chunk in _chunks(column):
        entries = chunk.flatten()
        if strip is not None:
            entries = pc.replace_substring_regex(entries, strip, "", max_replacements=1)
        hits = pc.match_substring_regex(entries, pattern)
        if pc.any(hits).as_py():
            parents = pc.filter(pc.list_parent_indices(chunk), hits)
            rows.extend(base + row for row in pc.unique(parents).to_pylist())
        base += len(chunk)
    return rows


def entry_length_above(column: Any, limit: int) -> list[int]:
    """Rows of a list-of-strings column with an entry longer than ``limit`` bytes."""
    rows: list[int] = []
    base = 0
    for chunk in _chunks(column):
        lengths = pc.binary_length(chunk.flatten())
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > limit:
            parents = pc.filter(pc.list_parent_indices(chunk), pc.greater(lengths, limit))
            rows.extend(base + row for row in pc.unique(parents).to_pylist())
        base += len(chunk)
    return rows


def list_length_above_rows(column: Any, limit: int) -> list[int]:
    """Rows of a list column with more than ``limit`` items."""
    lengths = pc.list_value_length(column)
    longest = pc.max(lengths).as_py()
    return _rows(pc.greater(lengths, limit)) if longest is not None and longest > limit else []


def length_above_rows(column: Any, limit: int) -> list[int]:
    """Rows of a string column whose value is longer than ``limit`` bytes."""
    lengths = pc.binary_length(column)
    longest = pc.max(lengths).as_py()
    return _rows(pc.greater(lengths, limit)) if longest is not None and longest > limit else []


def count_above_rows(column: Any, substring: str, limit: int) -> list[int]:
    """Rows of a string column where ``substring`` occurs more than ``limit`` times."""
    return _rows(pc.greater(pc.count_substring(column, substring), limit))


def longest(column: Any) -> int | None:
    """The byte length of the column's longest value; None when it has none."""
    if column.null_count == len(column):
        return None
    value: int | None = pc.max(pc.binary_length(column)).as_py()
    return value


def matching_rows(column: Any, pattern: str) -> list[int]:
    """Rows of a string column whose value ``pattern`` matches."""
    return _rows(pc.match_substring_regex(column, pattern))


def non_null_rows(column: Any) -> list[int]:
    """Rows of a column that have a value."""
    return [] if column.null_count == len(column) else _rows(pc.is_valid(column))
