"""The search page's form: URL parameters → a ``TraceQuery``, and back to a URL.

Parameters: ``service``, ``operation``, ``tags`` (``key=value`` pairs separated by
spaces; quote a value with spaces: ``note="a b"``), ``minDuration``/``maxDuration``
(``250ms``, ``1.5s``, ``10us``), the time window (see ``time_window``), ``errors=1``,
``limit`` and ``sort`` (``newest``, ``longest``, ``spans``, ``errors``). The form
keeps every field as typed, so a page with an error shows what was asked.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from traceway.api.go_duration import parse_go_duration
from traceway.query.service import MAX_SEARCH_LIMIT
from traceway.query.summaries import TraceOrder
from traceway.storage.api import TraceQuery
from traceway.ui.time_window import (
    CUSTOM,
    DEFAULT_LOOKBACK,
    FormErrors,
    TimeWindow,
    parse_window,
)

__all__ = ["LIMITS", "SearchForm", "page_url", "parse_tags", "search_url"]

LIMITS = (20, 50, 100, 200, 500, 1000)
"""Choices of the limit menu; any number up to the query service's cap is accepted."""


def page_url(path: str, params: Mapping[str, str], **more: str) -> str:
    """``path?...`` with ``params`` and ``more`` (for links between pages)."""
    return f"{path}?{urlencode({**params, **more})}"


def search_url(params: Mapping[str, str], **more: str) -> str:
    """``/search?...`` with ``params`` and ``more`` (a link from another page)."""
    return page_url("/search", params, **more)


def parse_tags(text: str) -> dict[str, str]:
    """``a=1 b="x y"`` → ``{"a": "1", "b": "x y"}``; ``ValueError`` says what is wrong."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot read the tags ({exc})") from None
    tags: dict[str, str] = {}
    for word in words:
        key, equals, value = word.partition("=")
        if not equals or not key:
            raise ValueError(f"expected key=value, got {word!r}")
        tags[key] = value
    return tags


def _duration(text: str, name: str, errors: dict[str, str]) -> int | None:
    if not text:
        return None
    try:
        nanos = parse_go_duration(text)
    except ValueError:
        errors[name] = f"expected a duration like 250ms, 1.5s or 10us, got {text!r}"
        return None
    if nanos < 0:
        errors[name] = f"a duration must not be negative, got {text!r}"
        return None
    return nanos


@dataclass(frozen=True, slots=True)
class SearchForm:
    """The search form as the user filled it in."""

    service: str = ""
    operation: str = ""
    tags: str = ""
    min_duration: str = ""
    max_duration: str = ""
    lookback: str = DEFAULT_LOOKBACK
    start: str = ""
    end: str = ""
    errors_only: bool = False
    limit: str = str(LIMITS[0])
    order: TraceOrder = TraceOrder.NEWEST
    problems: dict[str, str] = field(default_factory=dict)
    """Fields found wrong when reading the URL (field → message)."""

    @classmethod
    def from_params(cls, params: QueryParams) -> SearchForm:
        problems: dict[str, str] = {}
        sort = params.get("sort") or TraceOrder.NEWEST.value
        try:
            order = TraceOrder(sort)
        except ValueError:
            problems["sort"] = f"unknown order {sort!r}"
            order = TraceOrder.NEWEST
        return cls(
            service=params.get("service", ""),
            operation=params.get("operation", ""),
            tags=params.get("tags", ""),
            min_duration=params.get("minDuration", "").strip(),
            max_duration=params.get("maxDuration", "").strip(),
            lookback=params.get("lookback") or DEFAULT_LOOKBACK,
            start=params.get("from", ""),
            end=params.get("to", ""),
            errors_only=params.get("errors", "") in {"1", "true", "on"},
            limit=params.get("limit") or str(LIMITS[0]),
            order=order,
            problems=problems,
        )

    def window(self, now_ns: int) -> TimeWindow:
        """The time window; ``FormErrors`` if it cannot be used."""
        return parse_window(
            QueryParams({"lookback": self.lookback, "from": self.start, "to": self.end}), now_ns
        )

    def to_query(self, now_ns: int) -> TraceQuery:
        """The search this form asks for; ``FormErrors`` names every field that is wrong."""
        errors = dict(self.problems)
        try:
            window: TimeWindow | None = self.window(now_ns)
        except FormErrors as exc:
            errors.update(exc.errors)
            window = None
        try:
            tags = parse_tags(self.tags)
        except ValueError as exc:
            errors["tags"] = str(exc)
            tags = {}
        low = _duration(self.min_duration, "minDuration", errors)
        high = _duration(self.max_duration, "maxDuration", errors)
        if low is not None and high is not None and high < low:
            errors["maxDuration"] = "the maximum is shorter than the minimum"
        limit = self.limit.strip()
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_SEARCH_LIMIT:
            errors["limit"] = f"expected a number from 1 to {MAX_SEARCH_LIMIT}, got {limit!r}"
        if errors or window is None:
            raise FormErrors(errors)
        return TraceQuery(
            service_name=self.service or None,
            operation_name=self.operation or None,
            tags=MappingProxyType(tags),
            start_time_min_ns=window.start_ns,
            start_time_max_ns=window.end_ns,
            duration_min_ns=low,
            duration_max_ns=high,
            errors_only=self.errors_only,
            limit=int(limit),
        )

    def params(self) -> dict[str, str]:
        """The URL parameters of this form, leaving out empty fields and defaults."""
        pairs = {
            "service": self.service,
            "operation": self.operation,
            "tags": self.tags,
            "minDuration": self.min_duration,
            "maxDuration": self.max_duration,
            "lookback": self.lookback,
            "errors": "1" if self.errors_only else "",
            "limit": self.limit if self.limit != str(LIMITS[0]) else "",
            "sort": self.order.value if self.order is not TraceOrder.NEWEST else "",
        }
        if self.lookback == CUSTOM:
            pairs.update({"from": self.start, "to": self.end})
        return {key: value for key, value in pairs.items() if value}

    def url(self, *, order: TraceOrder | None = None) -> str:
        """``/search?...`` for this form, optionally in another order."""
        params = self.params()
        if order is not None:
            params.pop("sort", None)
            if order is not TraceOrder.NEWEST:
                params["sort"] = order.value
        return "/search?" + urlencode(params) if params else "/search"
