"""The search form: URL parameters to a query, every bad field named, and back to a URL."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from traceway.query.summaries import TraceOrder
from traceway.ui.search_form import SearchForm, parse_tags
from traceway.ui.time_window import FormErrors

NOW = 1_700_000_000_000_000_000
HOUR = 3_600 * 10**9


def form(**params: str) -> SearchForm:
    return SearchForm.from_params(QueryParams(params))


def test_tags_are_key_value_pairs_with_quoted_values() -> None:
    assert parse_tags('a=1 b="x y" c= error=true') == {
        "a": "1",
        "b": "x y",
        "c": "",
        "error": "true",
    }
    assert parse_tags("") == {}
    with pytest.raises(ValueError, match="expected key=value, got 'oops'"):
        parse_tags("a=1 oops")
    with pytest.raises(ValueError, match="cannot read the tags"):
        parse_tags('a="open')


def test_a_filled_in_form_is_one_query() -> None:
    query = form(
        service="gateway",
        operation="GET /",
        tags="http.status_code=500",
        minDuration="1.5ms",
        maxDuration="2s",
        lookback="6h",
        errors="1",
        limit="50",
    ).to_query(NOW)
    assert (query.service_name, query.operation_name) == ("gateway", "GET /")
    assert dict(query.tags) == {"http.status_code": "500"}
    assert (query.duration_min_ns, query.duration_max_ns) == (1_500_000, 2 * 10**9)
    assert (query.start_time_min_ns, query.start_time_max_ns) == (NOW - 6 * HOUR, NOW)
    assert query.errors_only
    assert query.limit == 50


def test_an_empty_form_searches_the_last_hour() -> None:
    query = form().to_query(NOW)
    assert query.service_name is None
    assert (query.start_time_min_ns, query.start_time_max_ns) == (NOW - HOUR, NOW)
    assert query.limit == 20 and not query.errors_only


def test_every_bad_field_is_named() -> None:
    with pytest.raises(FormErrors) as caught:
        form(
            minDuration="2s",
            maxDuration="1s",
            tags="x",
            limit="0",
            sort="random",
            lookback="custom",
            **{"from": "2024-05-01T12:00", "to": "2024-05-01T11:00"},
        ).to_query(NOW)
    assert set(caught.value.errors) == {"maxDuration", "tags", "limit", "sort", "to"}


def test_a_custom_range_takes_offsets_and_reads_utc_without_one() -> None:
    utc = form(lookback="custom", **{"from": "2024-05-01T12:00", "to": "2024-05-01T13:00Z"})
    query = utc.to_query(NOW)
    assert query.start_time_min_ns == 1_714_564_800 * 10**9
    assert query.start_time_max_ns == query.start_time_min_ns + HOUR
    later = 1_800_000_000 * 10**9
    local = form(lookback="custom", **{"from": "2024-05-01T14:00+02:00"}).to_query(later)
    assert local.start_time_min_ns == 1_714_564_800 * 10**9
    assert local.start_time_max_ns == later  # no end: now


def test_the_url_keeps_what_was_asked_and_leaves_out_defaults() -> None:
    asked = form(service="a b", tags='k="v w"', lookback="1h", limit="20", sort="newest")
    assert asked.url() == "/search?service=a+b&tags=k%3D%22v+w%22&lookback=1h"
    assert asked.url(order=TraceOrder.MOST_ERRORS).endswith("&sort=errors")
    assert form().url(order=TraceOrder.NEWEST) == "/search?lookback=1h"
