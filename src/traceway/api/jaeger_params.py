"""Jaeger's HTTP query parameters → the storage query dataclasses.

Syntax follows Jaeger's ``cmd/query/app/query_parser.go``; every malformed parameter
raises ``BadParameter`` naming it and its value. Meaning (end before start, min above
max, the limit cap) is checked by the query service, not here.

``/api/traces``:

* ``service``, ``operation``: exact names; both optional (Jaeger requires ``service``).
* ``start``, ``end``: microseconds since the epoch. Missing ``end`` is now; missing
  ``start`` is ``end - lookback``.
* ``lookback``: a Go duration, or ``2d``/``1w``; ``custom`` (sent by Jaeger UI and
  Grafana with explicit ``start``/``end``) and a missing value mean one hour.
* ``minDuration``, ``maxDuration``: Go durations (``1.5s``, ``300ms``, ``1m30s``, ``10us``).
* ``tag=key:value`` (repeatable) and ``tags={"key": "value", ...}`` (a JSON object;
  numbers and booleans are taken as their text); ``tags`` wins on the same key.
* ``error=true``: only traces with an error span (a traceway extension; the tag
  ``error=true`` matches error spans too).
* ``limit``: a positive integer, 20 when missing.
* ``traceID`` (repeatable): fetch these traces instead of searching.

``/api/dependencies``: ``endTs`` in milliseconds since the epoch (now when missing),
``lookback`` in milliseconds (24 hours when missing), ``service`` (optional).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from types import MappingProxyType

from starlette.datastructures import QueryParams

from traceway.api.errors import BadParameter
from traceway.api.go_duration import parse_go_duration
from traceway.model import SpanKind
from traceway.storage.api import DEFAULT_SEARCH_LIMIT, OperationQuery, TraceQuery
from traceway.storage.search_text import SPAN_KIND_TAG

__all__ = [
    "DEFAULT_DEPENDENCY_LOOKBACK_NS",
    "DEFAULT_SEARCH_LOOKBACK_NS",
    "DependencyWindow",
    "TraceSearch",
    "parse_dependency_window",
    "parse_operation_query",
    "parse_span_kind",
    "parse_trace_search",
]

DEFAULT_SEARCH_LOOKBACK_NS = 3_600 * 10**9
DEFAULT_DEPENDENCY_LOOKBACK_NS = 24 * 3_600 * 10**9

_NS_PER_US = 1_000
_NS_PER_MS = 1_000_000
_MAX_NS = 2**63 - 1  # storage keeps times as signed 64-bit nanoseconds
_DIGITS = re.compile(r"[0-9]+")
_DAYS_OR_WEEKS = re.compile(r"([0-9]+)([dw])")
_DAY_NS = 24 * 3_600 * 10**9
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})  # Go's strconv.ParseBool
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})

_SPAN_KINDS = {name: kind for kind, name in SPAN_KIND_TAG.items()}


@dataclass(frozen=True, slots=True)
class TraceSearch:
    """A parsed ``/api/traces`` request: trace ids to fetch, or else a query."""

    query: TraceQuery
    trace_ids: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class DependencyWindow:
    end_ns: int
    lookback_ns: int
    service_name: str | None = None


def _text(params: QueryParams, name: str) -> str | None:
    """The first value of a parameter; an empty value counts as missing (as in Jaeger)."""
    value = params.get(name)
    return value if value else None


def _count(params: QueryParams, name: str, what: str) -> int | None:
    text = _text(params, name)
    if text is None:
        return None
    if not _DIGITS.fullmatch(text):
        raise BadParameter(name, f"expected a non-negative integer ({what}), got {text!r}")
    return int(text)


def _epoch_ns(params: QueryParams, name: str, unit_ns: int, unit: str) -> int | None:
    value = _count(params, name, f"{unit} since the epoch")
    if value is None:
        return None
    if value * unit_ns > _MAX_NS:
        raise BadParameter(name, f"{value} {unit} since the epoch is out of range")
    return value * unit_ns


def _duration_ns(params: QueryParams, name: str) -> int | None:
    text = _text(params, name)
    if text is None:
        return None
    try:
        nanos = parse_go_duration(text)
    except ValueError as exc:
        raise BadParameter(name, str(exc)) from None
    if nanos < 0:
        raise BadParameter(name, f"duration {text!r} is negative")
    return nanos


def _lookback_ns(params: QueryParams) -> int:
    text = _text(params, "lookback")
    if text is None or text == "custom":
        return DEFAULT_SEARCH_LOOKBACK_NS
    days_or_weeks = _DAYS_OR_WEEKS.fullmatch(text)
    if days_or_weeks:
        days = int(days_or_weeks[1]) * (7 if days_or_weeks[2] == "w" else 1)
        return days * _DAY_NS
    nanos = _duration_ns(params, "lookback")
    return DEFAULT_SEARCH_LOOKBACK_NS if nanos is None else nanos


def _tags(params: QueryParams) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in params.getlist("tag"):
        key, colon, value = pair.partition(":")
        if not colon or not key:
            raise BadParameter("tag", f"expected key:value, got {pair!r}")
        tags[key] = value
    for text in params.getlist("tags"):
        if not text:
            continue
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadParameter("tags", f"not valid JSON ({exc.msg}): {text!r}") from None
        if not isinstance(parsed, dict):
            raise BadParameter("tags", f'expected a JSON object like {{"key": "value"}}: {text!r}')
        for key, value in parsed.items():
            tags[key] = _tag_text(key, value)
    return tags


def _tag_text(key: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    raise BadParameter("tags", f"the value of {key!r} must be a string, got {json.dumps(value)}")


def _flag(params: QueryParams, name: str) -> bool:
    text = _text(params, name)
    if text is None or text in _FALSE:
        return False
    if text in _TRUE:
        return True
    raise BadParameter(name, f"expected true or false, got {text!r}")


def _limit(params: QueryParams) -> int:
    limit = _count(params, "limit", "the number of traces")
    if limit is None:
        return DEFAULT_SEARCH_LIMIT
    if limit < 1:
        raise BadParameter("limit", f"must be at least 1, got {limit}")
    return limit


def parse_trace_search(params: QueryParams, now_ns: int) -> TraceSearch:
    """The ``/api/traces`` parameters as a search (see the module docstring)."""
    lookback_ns = _lookback_ns(params)
    end_ns = _epoch_ns(params, "end", _NS_PER_US, "microseconds")
    start_ns = _epoch_ns(params, "start", _NS_PER_US, "microseconds")
    end_ns = now_ns if end_ns is None else end_ns
    start_ns = max(0, end_ns - lookback_ns) if start_ns is None else start_ns
    query = TraceQuery(
        service_name=_text(params, "service"),
        operation_name=_text(params, "operation"),
        tags=MappingProxyType(_tags(params)),
        start_time_min_ns=start_ns,
        start_time_max_ns=end_ns,
        duration_min_ns=_duration_ns(params, "minDuration"),
        duration_max_ns=_duration_ns(params, "maxDuration"),
        errors_only=_flag(params, "error"),
        limit=_limit(params),
    )
    trace_ids = tuple(raw for raw in params.getlist("traceID") if raw)
    return TraceSearch(query=query, trace_ids=trace_ids)


def parse_span_kind(text: str | None) -> SpanKind | None:
    """``server``, ``client``, ... as a ``SpanKind``; None or empty means every kind."""
    if not text:
        return None
    kind = _SPAN_KINDS.get(text.lower())
    if kind is None:
        choices = ", ".join(_SPAN_KINDS)
        raise BadParameter("spanKind", f"unknown span kind {text!r} (one of: {choices})")
    return kind


def parse_operation_query(params: QueryParams) -> OperationQuery:
    """``/api/operations?service=S&spanKind=K``; ``service`` is required."""
    service = _text(params, "service")
    if service is None:
        raise BadParameter("service", "parameter 'service' is required")
    return OperationQuery(service_name=service, span_kind=parse_span_kind(params.get("spanKind")))


def parse_dependency_window(params: QueryParams, now_ns: int) -> DependencyWindow:
    """``/api/dependencies?endTs=<ms>&lookback=<ms>&service=S``."""
    end_ns = _epoch_ns(params, "endTs", _NS_PER_MS, "milliseconds")
    lookback_ms = _count(params, "lookback", "milliseconds")
    return DependencyWindow(
        end_ns=now_ns if end_ns is None else end_ns,
        lookback_ns=(
            DEFAULT_DEPENDENCY_LOOKBACK_NS if lookback_ms is None else lookback_ms * _NS_PER_MS
        ),
        service_name=_text(params, "service"),
    )
