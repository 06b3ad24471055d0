"""The Jaeger and Zipkin HTTP endpoints answer as those servers do, with OTLP's limits."""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence

import httpx
import pytest
from starlette.applications import Starlette

from tests.receivers.jaeger_payloads import client_body
from traceway.model import Span
from traceway.pipeline.api import RetryLaterError
from traceway.receivers.jaeger_zipkin_http import create_jaeger_http_app, create_zipkin_http_app

LIMIT = 64 * 1024
ZIPKIN_SPAN = {
    "traceId": "5b8efff798038103d269b633813fc60c",
    "id": "eee19b7ec3c1b174",
    "name": "get /users",
    "timestamp": 1_700_000_000_000_000,
    "duration": 5,
    "localEndpoint": {"serviceName": "users"},
}


class Consumer:
    def __init__(self, *, full: bool = False) -> None:
        self.spans: list[Span] = []
        self.full = full

    async def consume(self, spans: Sequence[Span]) -> None:
        if self.full:
            raise RetryLaterError("queue is full", retry_after_s=2.5)
        self.spans.extend(spans)


async def post(app: Starlette, path: str, body: bytes, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://traceway") as client:
        return await client.post(path, content=body, headers=headers)


def jaeger(consumer: Consumer) -> Starlette:
    return create_jaeger_http_app(consumer, max_request_bytes=LIMIT)


def zipkin(consumer: Consumer) -> Starlette:
    return create_zipkin_http_app(consumer, max_request_bytes=LIMIT)


@pytest.mark.parametrize(
    "content_type", ["application/x-thrift", "application/vnd.apache.thrift.binary"]
)
async def test_a_jaeger_batch_is_accepted_with_202(content_type: str) -> None:
    consumer = Consumer()
    response = await post(
        jaeger(consumer),
        "/api/traces?format=jaeger.thrift",
        client_body(),
        **{"Content-Type": content_type},
    )
    assert response.status_code == 202
    assert response.text == ""
    assert [s.service_name for s in consumer.spans] == ["orders"]


async def test_a_gzipped_jaeger_batch_is_accepted() -> None:
    consumer = Consumer()
    headers = {"Content-Type": "application/x-thrift", "Content-Encoding": "gzip"}
    response = await post(jaeger(consumer), "/api/traces", gzip.compress(client_body()), **headers)
    assert response.status_code == 202
    assert len(consumer.spans) == 1


@pytest.mark.parametrize(
    ("body", "headers", "status", "says"),
    [
        (b"\xff\xff not thrift", {"Content-Type": "application/x-thrift"}, 400, "Thrift"),
        (b"[]", {"Content-Type": "application/json"}, 415, "application/x-thrift"),
        (b"", {}, 415, "(none)"),
        (b"x", {"Content-Type": "application/x-thrift", "Content-Encoding": "gzip"}, 400, "gzip"),
        (b"x" * (LIMIT + 1), {"Content-Type": "application/x-thrift"}, 413, str(LIMIT)),
        (
            gzip.compress(b"\0" * (LIMIT * 4)),
            {"Content-Type": "application/x-thrift", "Content-Encoding": "gzip"},
            413,
            "larger than the limit",
        ),
    ],
    ids=["garbage", "json", "no type", "bad gzip", "too large", "gzip bomb"],
)
async def test_bad_jaeger_requests_get_clear_errors(
    body: bytes, headers: dict[str, str], status: int, says: str
) -> None:
    consumer = Consumer()
    response = await post(jaeger(consumer), "/api/traces", body, **headers)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/plain")
    assert says in response.text
    assert consumer.spans == []


async def test_a_full_pipeline_answers_503_with_retry_after() -> None:
    response = await post(
        zipkin(Consumer(full=True)), "/api/v2/spans", json.dumps([ZIPKIN_SPAN]).encode()
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", ""]
)
async def test_zipkin_json_is_accepted_with_or_without_content_type(content_type: str) -> None:
    consumer = Consumer()
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps([ZIPKIN_SPAN]).encode()
    response = await post(zipkin(consumer), "/api/v2/spans", body, **headers)
    assert response.status_code == 202
    assert [s.name for s in consumer.spans] == ["get /users"]


async def test_zipkin_partly_rejected_says_so_and_wholly_rejected_is_400() -> None:
    consumer = Consumer()
    bad = {**ZIPKIN_SPAN, "id": "not hex"}
    partly = await post(zipkin(consumer), "/api/v2/spans", json.dumps([ZIPKIN_SPAN, bad]).encode())
    assert partly.status_code == 202
    assert "rejected 1 span(s)" in partly.text
    wholly = await post(zipkin(consumer), "/api/v2/spans", json.dumps([bad]).encode())
    assert wholly.status_code == 400
    assert "invalid id" in wholly.text
    assert len(consumer.spans) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"[{", "application/json", 400),
        (b"\xff\xff", "application/x-protobuf", 400),
        (b"<spans/>", "application/xml", 415),
        (b"", "application/x-protobuf", 202),
        (b"[]", "application/json", 202),
    ],
)
async def test_zipkin_bodies(body: bytes, content_type: str, status: int) -> None:
    response = await post(
        zipkin(Consumer()), "/api/v2/spans", body, **{"Content-Type": content_type}
    )
    assert response.status_code == status, response.text
