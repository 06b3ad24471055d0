"""A span's attribute entries in two columns: the batch's common ones as one text, the rest a list.

Entries (``storage.attribute_entries``) of keys whose values repeat in a written batch
(each value 16 times on average or more: routes, methods, table names) are joined
into one text, ``RS entry RS entry ... RS`` (RS is the record separator ``\\x1e``):
spans of one kind share that text, so DuckDB's dictionary stores each distinct group
once and a span pays little more than its index: about 4 bytes per span for
``bench/query.py``'s spans, where the same entries as a list cost about 9. The
other entries (ids, addresses, ports) stay a list, where the dictionary has little
to share. An entry holding an RS always goes to the list, so splitting the text at
RS gives back exactly its entries; a span's attributes read back common ones first.
The split is done with Arrow kernels, before the batch goes to DuckDB.

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

__all__ = [
    "RECORD_SEPARATOR",
    "REPEATS_FOR_COMMON",
    "SplitEntries",
    "entries",
    "entry_condition",
    "split_entries",
]

RECORD_SEPARATOR = "\x1e"
REPEATS_FOR_COMMON = 16
"""A key is common in a batch when its entries outnumber its distinct entries this much."""


@dataclass(frozen=True, slots=True)
class SplitEntries:
    """A batch's entries as stored, and the (key, type letter) pairs they have."""

    common: pa.Array
    """``attributes_common``: empty (without its two RS) where no entry is common."""
    varying: pa.Array
    """``attributes_varying``."""
    types: list[tuple[str, str]]
    """Each (key as in an entry, type letter) among the entries, once."""


def _common_entries(distinct: pa.Array, counts: pa.Array, keys: pa.Array) -> pa.Array:
    """Which of the ``distinct`` entries (seen ``counts`` times, of ``keys``) are common."""
    per_key = (
        pa.table({"key": keys, "n": counts})
        .group_by("key")
        .aggregate([("n", "sum"), ("n", "count")])
    )
    common_keys = per_key["key"].filter(
        pc.less_equal(pc.multiply(per_key["n_count"], REPEATS_FOR_COMMON), per_key["n_sum"])
    )
    return distinct.filter(
        pc.and_(
            pc.is_in(keys, value_set=common_keys),
            pc.invert(pc.match_substring(distinct, RECORD_SEPARATOR)),
        )
    )


def _lists_of(lists: pa.ListArray, keep: pa.BooleanArray) -> pa.ListArray:
    """``lists`` with only the values where ``keep`` is true (``keep`` runs over the values)."""
    kept_before = pc.cumulative_sum(keep.cast(pa.int64()))
    offsets = pc.take(pa.concat_arrays([pa.array([0], pa.int64()), kept_before]), lists.offsets)
    return pa.LargeListArray.from_arrays(offsets, lists.values.filter(keep))


def split_entries(attributes: pa.Array | pa.ChunkedArray) -> SplitEntries:
    """The two stored columns of a batch's entry lists (``SpanBatch.attributes``)."""
    lists = attributes.combine_chunks() if isinstance(attributes, pa.ChunkedArray) else attributes
    counted = pc.value_counts(lists.values)
    distinct = counted.field("values")
    parts = pc.split_pattern(distinct, SEPARATOR, max_splits=1)
    keys = pc.list_element(parts, 0)
    types = (
        pa.table({"key": keys, "type": pc.utf8_slice_codeunits(pc.list_element(parts, 1), 0, 1)})
        .group_by(["key", "type"])
        .aggregate([])
    )
    common = pc.is_in(
        lists.values, value_set=_common_entries(distinct, counted.field("counts"), keys)
    )
    common_lists = _lists_of(lists, common)
    texts = pc.binary_join_element_wise(
        RECORD_SEPARATOR, pc.binary_join(common_lists, RECORD_SEPARATOR), RECORD_SEPARATOR, ""
    )
    return SplitEntries(
        common=pc.if_else(pc.greater(pc.list_value_length(common_lists), 0), texts, ""),
        varying=_lists_of(lists, pc.invert(common)),
        types=list(zip(types["key"].to_pylist(), types["type"].to_pylist(), strict=True)),
    )


def entries(common: str | None, varying: Sequence[str] | None) -> list[str]:
    """The entries of a stored span, common ones first."""
    found = common[1:-1].split(RECORD_SEPARATOR) if common else []
    if varying:
        found.extend(varying)
    return found


def entry_condition(span: str, candidates: Sequence[str]) -> tuple[str, list[object]]:
    """SQL true when span ``span`` has one of the entries ``candidates``, and its parameters."""
    conditions: list[str] = []
    params: list[object] = []
    for candidate in candidates:
        conditions.append(f"list_contains({span}.attributes_varying, ?)")
        params.append(candidate)
        if RECORD_SEPARATOR not in candidate:  # else it can only be in the list
            conditions.append(f"contains({span}.attributes_common, ?)")
            params.append(RECORD_SEPARATOR + candidate + RECORD_SEPARATOR)
    return "(" + " OR ".join(conditions) + ")", params
