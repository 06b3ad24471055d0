"""Property-based fuzzing of every query parameter of the API and the UI: never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient  # sync, so that hypothesis can drive it

from traceway.api.app import create_api_app
from traceway.model import Resource, Span, SpanKind, StatusCode
from traceway.query.service import QueryService
from traceway.storage.memory import MemoryStore

NOW_NS = 1_700_000_000_000_000_000
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

ENDPOINT_PARAMETERS = {
    "/api/services": [],
    "/api/services/{value}/operations": [],
    "/api/operations": ["service", "spanKind"],
    "/api/traces": [
        "service", "operation", "tags", "tag", "start", "end", "lookback", "minDuration",
        "maxDuration", "limit", "error", "traceID",
    ],
    "/api/traces/{value}": [],
    "/api/dependencies": ["endTs", "lookback", "service"],
    "/search": [
        "service", "operation", "tags", "minDuration", "maxDuration", "lookback", "from", "to",
        "errors", "limit", "sort",
    ],
    "/trace": ["id"],
    "/trace/{value}": ["span"],
    "/map": ["lookback", "from", "to"],
    "/services": ["lookback", "from", "to", "service"],
    "/ui-api/traces/{value}": [],
    "/ui-api/traces/{value}/otlp.json": [],
}  # fmt: skip

# Values near what parsers expect, and plain garbage.
values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["", "0", "-1", "1e309", "99999999999999999999999", "1.5s", "1h", "-5m", "1ms1", "nan",
         "{}", "[]", '{"a": 1}', '{"a": {"b": 1}}', "a:b", ":", "custom", "2d", "1w", "true",
         "server", "' OR 1=1 --", "<img src=x onerror=alert(1)>", "\x00", "ab" * 40,
         "2026-11-21T07:00:00Z", "5b8efff798038103d269b633813fc60c"]
    ),
)  # fmt: skip


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    store = MemoryStore()
    resource = Resource({"service.name": "gateway"})
    store.write_spans(
        [
            Span(
                trace_id="5b8efff798038103d269b633813fc60c",
                span_id="eee19b7ec3c1b174",
                name="GET /user/{id}",
                kind=SpanKind.SERVER,
                start_time_unix_nano=NOW_NS - 10**9,
                end_time_unix_nano=NOW_NS - 10**8,
                status_code=StatusCode.ERROR,
                attributes={"user.id": 7, "note": "<b>x</b>"},
                resource=resource,
            )
        ]
    )
    with TestClient(create_api_app(QueryService(store), clock_ns=lambda: NOW_NS)) as test_client:
        yield test_client


@pytest.mark.parametrize("endpoint", sorted(ENDPOINT_PARAMETERS))
@FUZZ
@given(data=st.data())
def test_no_parameter_value_causes_a_server_error(
    client: TestClient, endpoint: str, data: st.DataObject
) -> None:
    path = endpoint.replace("{value}", quote(data.draw(values), safe=""))
    names = ENDPOINT_PARAMETERS[endpoint]
    chosen = data.draw(st.lists(st.sampled_from(names), max_size=len(names))) if names else []
    params = [(name, data.draw(values)) for name in chosen]
    response = client.get(path, params=params)
    assert response.status_code < 500, (path, params, response.text[:500])
    if path.startswith("/api/") and response.status_code >= 400:
        assert response.json()["errors"][0]["msg"]
