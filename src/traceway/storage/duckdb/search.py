"""``TraceQuery`` as a parameterised SQL condition on one span ``s``."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from traceway.model import StatusCode
from traceway.storage.api import TraceQuery
from traceway.storage.attribute_entries import SEPARATOR, escape_key, needles
from traceway.storage.duckdb.attribute_columns import entry_condition
from traceway.storage.search_text import SPAN_KIND_TAG, STATUS_CODE_TAG

__all__ = ["SpanFilter", "span_filter"]

_KIND_BY_TAG = {text: kind for kind, text in SPAN_KIND_TAG.items()}
_STATUS_BY_TAG = {text: code for code, text in STATUS_CODE_TAG.items()}


@dataclass(frozen=True, slots=True)
class SpanFilter:
    """A WHERE condition on ``spans s`` and its parameters."""

    where: str
    params: list[object]


def _stored_types(cur: duckdb.DuckDBPyConnection, key: str) -> set[str]:
    """The type letters span entries of ``key`` (escaped) were written with."""
    rows = cur.execute("SELECT type FROM attribute_types WHERE key = ?", [key]).fetchall()
    return {letter for (letter,) in rows}


def _tag_condition(
    key: str, value: str, cur: duckdb.DuckDBPyConnection
) -> tuple[str, list[object]]:
    candidates = needles(key, value)
    escaped = escape_key(key)
    types = _stored_types(cur, escaped)
    type_at = len(escaped) + len(SEPARATOR)
    in_span_candidates = [c for c in candidates if c[type_at] in types]
    in_span, params = (
        entry_condition("s", in_span_candidates) if in_span_candidates else ("FALSE", [])
    )
    in_resources = " OR ".join("list_contains(attributes, ?)" for _ in candidates)
    alternatives = [
        in_span,
        f"s.resource_id IN (SELECT resource_id FROM resources WHERE {in_resources})",  # noqa: S608
    ]
    params += candidates
    if key == "span.kind" and value in _KIND_BY_TAG:
        alternatives.append("s.kind = ?")
        params.append(int(_KIND_BY_TAG[value]))
    elif key == "error" and value == "true":
        alternatives.append("s.status_code = ?")
        params.append(int(StatusCode.ERROR))
    elif key == "otel.status_code" and value in _STATUS_BY_TAG:
        alternatives.append("s.status_code = ?")
        params.append(int(_STATUS_BY_TAG[value]))
    return "(" + " OR ".join(alternatives) + ")", params


def span_filter(query: TraceQuery, cur: duckdb.DuckDBPyConnection) -> SpanFilter:
    """The condition a span must meet to make its trace a match for ``query``.

    A tag is looked for only as the value types its key was stored with
    (``attribute_types``, read on ``cur``): fewer comparisons per span. The condition holds
    for the spans stored when it was made; spans written later with a new type of
    that key are missed by it.
    """
    conditions: list[str] = ["TRUE"]
    params: list[object] = []

    def add(condition: str, *values: object) -> None:
        conditions.append(condition)
        params.extend(values)

    if query.service_name is not None:
        add("s.service_name = ?", query.service_name)
    if query.operation_name is not None:
        add("s.name = ?", query.operation_name)
    if query.start_time_min_ns is not None:
        add("s.start_time_ns >= ?", query.start_time_min_ns)
    if query.start_time_max_ns is not None:
        add("s.start_time_ns <= ?", query.start_time_max_ns)
    # The stored duration is end minus start as sent, so it may be negative, where a
    # span's duration is 0: max(duration, 0) >= a bound above 0 iff duration >= it, and
    # max(duration, 0) <= a bound iff the bound is not negative and duration <= it.
    if query.duration_min_ns is not None and query.duration_min_ns > 0:
        add("s.duration_ns >= ?", query.duration_min_ns)
    if query.duration_max_ns is not None and query.duration_max_ns >= 0:
        add("s.duration_ns <= ?", query.duration_max_ns)
    elif query.duration_max_ns is not None:
        add("FALSE")
    if query.errors_only:
        add("s.status_code = ?", int(StatusCode.ERROR))
    for key, value in query.tags.items():
        condition, values = _tag_condition(key, value, cur)
        add(condition, *values)
    return SpanFilter(" AND ".join(conditions), params)
