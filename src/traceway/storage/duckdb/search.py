"""``TraceQuery`` as a parameterised SQL condition on one span ``s``."""

from __future__ import annotations

from dataclasses import dataclass

from traceway.model import StatusCode
from traceway.storage.api import TraceQuery
from traceway.storage.attribute_entries import needles
from traceway.storage.search_text import SPAN_KIND_TAG, STATUS_CODE_TAG

__all__ = ["SpanFilter", "span_filter"]

_KIND_BY_TAG = {text: kind for kind, text in SPAN_KIND_TAG.items()}
_STATUS_BY_TAG = {text: code for code, text in STATUS_CODE_TAG.items()}


@dataclass(frozen=True, slots=True)
class SpanFilter:
    """A WHERE condition on ``spans s`` and its parameters."""

    where: str
    params: list[object]


def _entries_condition(column: str, candidates: list[str]) -> str:
    return "(" + " OR ".join(f"list_contains({column}, ?)" for _ in candidates) + ")"


def _tag_condition(key: str, value: str) -> tuple[str, list[object]]:
    candidates = needles(key, value)
    in_resources = _entries_condition("attributes", candidates)
    alternatives = [
        _entries_condition("s.attributes", candidates),
        f"s.resource_id IN (SELECT resource_id FROM resources WHERE {in_resources})",  # noqa: S608
    ]
    params: list[object] = [*candidates, *candidates]
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


def span_filter(query: TraceQuery) -> SpanFilter:
    """The condition a span must meet to make its trace a match for ``query``."""
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
        condition, values = _tag_condition(key, value)
        add(condition, *values)
    return SpanFilter(" AND ".join(conditions), params)
