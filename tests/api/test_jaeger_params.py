from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from traceway.api.errors import BadParameter
from traceway.api.jaeger_params import (
    DEFAULT_DEPENDENCY_LOOKBACK_NS,
    DEFAULT_SEARCH_LOOKBACK_NS,
    parse_dependency_window,
    parse_operation_query,
    parse_trace_search,
)
from traceway.model import SpanKind

NOW_NS = 1_700_000_000_000_000_000
HOUR_NS = 3_600_000_000_000


def test_defaults_are_jaegers() -> None:
    parsed = parse_trace_search(QueryParams(""), now_ns=NOW_NS)
    query = parsed.query
    assert query.start_time_max_ns == NOW_NS
    assert query.start_time_min_ns == NOW_NS - DEFAULT_SEARCH_LOOKBACK_NS
    assert query.limit == 20
    assert query.service_name is None
    assert query.operation_name is None
    assert dict(query.tags) == {}
    assert query.duration_min_ns is None
    assert query.errors_only is False
    assert parsed.trace_ids == ()


def test_empty_values_count_as_missing() -> None:
    query = parse_trace_search(
        QueryParams("service=&operation=&limit=&start=&minDuration="), now_ns=NOW_NS
    ).query
    assert query.service_name is None
    assert query.operation_name is None
    assert query.limit == 20
    assert query.duration_min_ns is None


def test_times_are_microseconds_and_durations_go_durations() -> None:
    params = QueryParams(
        "service=gateway&operation=GET /orders&start=1000&end=2000"
        "&minDuration=1.2s&maxDuration=100ms&limit=7"
    )
    query = parse_trace_search(params, now_ns=NOW_NS).query
    assert query.service_name == "gateway"
    assert query.operation_name == "GET /orders"
    assert (query.start_time_min_ns, query.start_time_max_ns) == (1_000_000, 2_000_000)
    assert (query.duration_min_ns, query.duration_max_ns) == (1_200_000_000, 100_000_000)
    assert query.limit == 7


@pytest.mark.parametrize(
    ("lookback", "nanos"),
    [("2h", 2 * HOUR_NS), ("2d", 48 * HOUR_NS), ("1w", 168 * HOUR_NS), ("custom", HOUR_NS)],
)
def test_lookback_sets_the_start_when_start_is_missing(lookback: str, nanos: int) -> None:
    query = parse_trace_search(QueryParams({"lookback": lookback}), now_ns=NOW_NS).query
    assert query.start_time_min_ns == NOW_NS - nanos


def test_explicit_start_wins_over_lookback() -> None:
    query = parse_trace_search(QueryParams("start=5&lookback=custom"), now_ns=NOW_NS).query
    assert query.start_time_min_ns == 5_000


def test_tag_and_tags_merge_with_tags_winning() -> None:
    params = QueryParams(
        [
            ("tag", "http.url:http://x:8080/a"),
            ("tag", "region:eu"),
            ("tags", '{"region": "us", "http.status_code": 500, "retry": true, "ratio": 1.5}'),
        ]
    )
    query = parse_trace_search(params, now_ns=NOW_NS).query
    assert dict(query.tags) == {
        "http.url": "http://x:8080/a",
        "region": "us",
        "http.status_code": "500",
        "retry": "true",
        "ratio": "1.5",
    }


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("false", False)])
def test_error_flag(value: str, expected: bool) -> None:
    query = parse_trace_search(QueryParams({"error": value}), now_ns=NOW_NS).query
    assert query.errors_only is expected


def test_trace_ids_are_collected() -> None:
    parsed = parse_trace_search(QueryParams("traceID=abc&traceID=DEF"), now_ns=NOW_NS)
    assert parsed.trace_ids == ("abc", "DEF")


@pytest.mark.parametrize(
    ("query", "param", "detail"),
    [
        ("minDuration=1", "minDuration", "missing unit"),
        ("maxDuration=fast", "maxDuration", "invalid duration 'fast'"),
        ("minDuration=-1s", "minDuration", "negative"),
        ("start=yesterday", "start", "'yesterday'"),
        ("end=-5", "end", "'-5'"),
        ("end=99999999999999999999", "end", "out of range"),
        ("limit=abc", "limit", "'abc'"),
        ("limit=0", "limit", "at least 1"),
        ("lookback=soon", "lookback", "'soon'"),
        ("tag=novalue", "tag", "key:value"),
        ("tags={bad", "tags", "not valid JSON"),
        ("tags=[1,2]", "tags", "JSON object"),
        ('tags={"k":null}', "tags", "must be a string"),
        ("error=maybe", "error", "'maybe'"),
    ],
)
def test_malformed_parameters_name_the_parameter(query: str, param: str, detail: str) -> None:
    with pytest.raises(BadParameter, match=f"'{param}'") as caught:
        parse_trace_search(QueryParams(query), now_ns=NOW_NS)
    assert caught.value.status_code == 400
    assert detail in caught.value.message


def test_operation_query_kind_and_required_service() -> None:
    query = parse_operation_query(QueryParams("service=gateway&spanKind=server"))
    assert (query.service_name, query.span_kind) == ("gateway", SpanKind.SERVER)
    assert parse_operation_query(QueryParams("service=gateway")).span_kind is None
    with pytest.raises(BadParameter, match=r"'spanKind'.*'sideways'"):
        parse_operation_query(QueryParams("service=gateway&spanKind=sideways"))
    with pytest.raises(BadParameter, match="'service' is required"):
        parse_operation_query(QueryParams("spanKind=server"))


def test_dependency_window_is_in_milliseconds() -> None:
    window = parse_dependency_window(QueryParams("endTs=2000&lookback=500"), now_ns=NOW_NS)
    assert (window.end_ns, window.lookback_ns) == (2_000_000_000, 500_000_000)
    defaults = parse_dependency_window(QueryParams(""), now_ns=NOW_NS)
    assert (defaults.end_ns, defaults.lookback_ns) == (NOW_NS, DEFAULT_DEPENDENCY_LOOKBACK_NS)
    with pytest.raises(BadParameter, match="'lookback'"):
        parse_dependency_window(QueryParams("lookback=1h"), now_ns=NOW_NS)
