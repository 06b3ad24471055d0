"""A span's attribute entries in two texts: the batch's common ones a shared set, the rest its own.

Entries (``storage.attribute_entries``) of keys whose values repeat in a written batch
(each value 16 times on average or more: routes, methods, table names) are joined
into one text, ``RS entry RS entry ... RS`` (RS is the record separator ``\\x1e``):
spans of one kind share that text, stored once in ``attribute_sets``, and a span
holds only its ``attribute_set_id`` (0 when it has no common entry). As text in
every span's row the sets were cheap on disk (DuckDB's dictionary keeps each once)
but not to write: DuckDB logs and appends a committed row's text whole, and the
sets were half of those bytes; by id, a batch of 8,192 spans commits about a fifth
faster. A search for a common entry looks through the few sets, then for their ids.
The other entries (ids, addresses, ports) are the span's own ``attributes_varying``,
a text written the same way. Not a list: DuckDB logs a committed list's entries again
with those of every row before it in the same vector of 2,048 rows (so a commit of 10
spans could log 2,000 spans' entries), and a list took about twice a text's CPU to
insert. An entry holding an RS, which a text cannot hold, goes to a list of its own,
``attributes_with_rs`` (NULL for nearly every span), so splitting a text at RS gives
back exactly its entries; a span's attributes read back common ones first.
The split is made before the batch goes to DuckDB, by the C module ``_entries_native``
in one pass without the GIL (its header says why), or where it is not built or leaves
a batch, by ``split_entries_arrow`` with Arrow kernels: both make the same columns.

The writer also records which value types (the entries' type letters) each key was
written with, in ``attribute_types``: a tag search then looks only for the entries
of those types (``"4242"`` could be a string, an int or base64 bytes; it is
usually one of them), each one a pass over the entries fewer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from traceway.storage.attribute_entries import SEPARATOR

try:
    from traceway.storage.duckdb import _entries_native
except ImportError:  # built by setup.py; optional so that installs without a compiler work
    _entries_native = None  # type: ignore[assignment,unused-ignore]

__all__ = [
    "RECORD_SEPARATOR",
    "REPEATS_FOR_COMMON",
    "SplitEntries",
    "entries",
    "entry_condition",
    "split_entries",
    "split_entries_arrow",
]

RECORD_SEPARATOR = "\x1e"
REPEATS_FOR_COMMON = 16
"""A key is common in a batch when its entries outnumber its distinct entries this much."""


@dataclass(frozen=True, slots=True)
class SplitEntries:
    """A batch's entries as stored, and the (key, type letter) pairs they have."""

    common: pa.Array
    """Each span's attribute set text: empty (without its two RS) where no entry is common;
    maybe dictionary-encoded, each text then once in the dictionary."""
    varying: pa.Array
    """``attributes_varying``: each span's other entries as one text like a set's."""
    with_rs: pa.Array | None
    """``attributes_with_rs``: each span's entries holding an RS, NULL where it has none;
    None when no span has one."""
    types: list[tuple[str, str]]
    """Each (key as in an entry, type letter) among the entries, once."""


# Typed scalars: a Python value given to a kernel has its type inferred, which costs
# pyarrow some 50 us when python-dateutil is not installed.
_RS = pa.scalar(RECORD_SEPARATOR, pa.string())
_US = pa.scalar(SEPARATOR, pa.string())
_EMPTY = pa.scalar("", pa.string())
_NONE = pa.scalar(0, pa.int64())
_REPEATS = pa.scalar(REPEATS_FOR_COMMON, pa.int64())
_KEY = pa.scalar(0, pa.int32())
_TYPED_VALUE = pa.scalar(1, pa.int32())


def _common_keys(keys: pa.Array, counts: pa.Array) -> pa.Array:
    """The keys whose entries (the batch's distinct ``keys`` entries, each seen
    ``counts`` times) repeat enough to be common."""
    per_key = (
        pa.table({"key": keys, "n": counts})
        .group_by("key", use_threads=False)
        .aggregate([("n", "sum"), ("n", "count")])
    )
    return per_key["key"].filter(
        pc.less_equal(pc.multiply(per_key["n_count"], _REPEATS), per_key["n_sum"])
    )


def split_entries(attributes: pa.Array | pa.ChunkedArray) -> SplitEntries:
    """The two stored columns of a batch's entry lists (``SpanBatch.attributes``)."""
    lists = attributes.combine_chunks() if isinstance(attributes, pa.ChunkedArray) else attributes
    return _split_natively(lists) or split_entries_arrow(lists)


def _split_natively(lists: pa.Array) -> SplitEntries | None:
    """``split_entries`` by the C module; None where it is not built or leaves the lists."""
    values = lists.values
    if (
        _entries_native is None
        or lists.type != pa.list_(pa.string())
        or lists.null_count
        or values.null_count
    ):
        return None
    offsets = lists.offsets
    _, list_buffer = offsets.buffers()
    _, entry_offsets, data = values.buffers()
    if list_buffer is None or entry_offsets is None:
        return None  # no entries at all: not worth the C module, and Arrow may omit them
    list_offsets = memoryview(list_buffer)[offsets.offset * 4 :][: len(offsets) * 4]
    found = _entries_native.split(
        len(lists),
        REPEATS_FOR_COMMON,
        list_offsets,
        values.offset,
        memoryview(entry_offsets),
        memoryview(data) if data is not None else b"",
    )
    if found is None:
        return None
    (set_count, set_of, text_offsets, texts, varying_offsets, varying, with_rs_count,
     with_rs_lists, with_rs_offsets, with_rs, types) = found  # fmt: skip
    count = len(lists)
    held = None  # nearly always: no entry holds an RS
    if with_rs_count:
        held = _null_where_empty(
            pa.LargeListArray.from_arrays(
                pa.Array.from_buffers(pa.int64(), count + 1, [None, pa.py_buffer(with_rs_lists)]),
                pa.Array.from_buffers(
                    pa.string(),
                    with_rs_count,
                    [None, pa.py_buffer(with_rs_offsets), pa.py_buffer(with_rs)],
                ),
            )
        )
    return SplitEntries(
        common=pa.DictionaryArray.from_arrays(
            pa.Array.from_buffers(pa.int32(), count, [None, pa.py_buffer(set_of)]),
            pa.Array.from_buffers(
                pa.string(), set_count, [None, pa.py_buffer(text_offsets), pa.py_buffer(texts)]
            ),
        ),
        varying=pa.Array.from_buffers(
            pa.string(), count, [None, pa.py_buffer(varying_offsets), pa.py_buffer(varying)]
        ),
        with_rs=held,
        types=types,
    )


def _sublists(offsets: pa.Array, values: pa.Array, chosen: pa.Array) -> pa.LargeListArray:
    """Each list's ``chosen`` entries: the lists of ``values`` at ``offsets`` (from 0)."""
    # A list's chosen entries start after those of the lists before it.
    before = pc.cumulative_sum(chosen.cast(pa.int64()))
    starts = pc.take(pa.concat_arrays([pa.array([0], pa.int64()), before]), offsets)
    return pa.LargeListArray.from_arrays(starts, values.filter(chosen))


def _joined(lists: pa.LargeListArray) -> pa.Array:
    """Each list as a text, RS entry RS entry ... RS; empty for an empty list."""
    texts = pc.binary_join_element_wise(_RS, pc.binary_join(lists, _RS), _RS, _EMPTY)
    return pc.if_else(pc.greater(pc.list_value_length(lists), _NONE), texts, _EMPTY)


def _null_where_empty(lists: pa.LargeListArray) -> pa.LargeListArray:
    return pa.LargeListArray.from_arrays(
        lists.offsets, lists.values, mask=pc.equal(pc.list_value_length(lists), _NONE)
    )


def split_entries_arrow(lists: pa.Array) -> SplitEntries:
    """``split_entries`` with Arrow kernels: the reference the C module is tested against."""
    # The entries of these lists only (a slice's child holds others), offsets from 0.
    values = lists.flatten()
    offsets = pc.subtract(lists.offsets, lists.offsets[0])
    # One hash pass: each entry's index among the distinct ones, in their first appearance.
    encoded = pc.dictionary_encode(values)
    distinct = encoded.dictionary
    # value_counts lists the indices in their first appearance too: 0, 1, 2, ...
    counts = pc.value_counts(encoded.indices).field("counts")
    parts = pc.split_pattern(distinct, SEPARATOR, max_splits=1)
    keys = pc.list_element(parts, _KEY)
    type_letters = pc.utf8_slice_codeunits(pc.list_element(parts, _TYPED_VALUE), 0, 1)
    key_types = pc.unique(pc.binary_join_element_wise(keys, type_letters, _US)).to_pylist()
    holds_rs = pc.match_substring(distinct, RECORD_SEPARATOR)
    common_distinct = pc.and_(
        pc.is_in(keys, value_set=_common_keys(keys, counts)), pc.invert(holds_rs)
    )
    common = common_distinct.take(encoded.indices)
    with_rs = holds_rs.take(encoded.indices)
    varying = pc.invert(pc.or_(common, with_rs))
    return SplitEntries(
        common=_joined(_sublists(offsets, values, common)),
        varying=_joined(_sublists(offsets, values, varying)),
        with_rs=(
            _null_where_empty(_sublists(offsets, values, with_rs))
            if pc.any(with_rs).as_py()
            else None
        ),
        types=[(key, letter) for key, _, letter in (kt.partition(SEPARATOR) for kt in key_types)],
    )


def entries(common: str, varying: str, with_rs: Sequence[str] | None) -> list[str]:
    """The entries of a stored span, common ones first."""
    found = common[1:-1].split(RECORD_SEPARATOR) if common else []
    if varying:
        found.extend(varying[1:-1].split(RECORD_SEPARATOR))
    if with_rs:
        found.extend(with_rs)
    return found


def entry_condition(span: str, candidates: Sequence[str]) -> tuple[str, list[object]]:
    """SQL true when span ``span`` has one of the entries ``candidates``, and its parameters."""
    conditions: list[str] = []
    params: list[object] = []
    in_sets = [c for c in candidates if RECORD_SEPARATOR not in c]
    for candidate in candidates:
        if candidate in in_sets:
            conditions.append(f"contains({span}.attributes_varying, ?)")
            params.append(RECORD_SEPARATOR + candidate + RECORD_SEPARATOR)
        else:
            conditions.append(f"list_contains({span}.attributes_with_rs, ?)")
            params.append(candidate)
    if in_sets:
        in_any = " OR ".join("contains(entries, ?)" for _ in in_sets)
        sets = f"SELECT set_id FROM attribute_sets WHERE {in_any}"  # noqa: S608 (no input)
        conditions.append(f"{span}.attribute_set_id IN ({sets})")
        params.extend(RECORD_SEPARATOR + c + RECORD_SEPARATOR for c in in_sets)
    return "(" + " OR ".join(conditions) + ")", params
