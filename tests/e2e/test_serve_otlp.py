"""Real OpenTelemetry SDK exporters → ``traceway serve`` subprocess → Jaeger API."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tests.e2e.serve_process import ServeProcess, start_serve

ExporterFactory = Callable[[ServeProcess], SpanExporter]

EXPORTERS: dict[str, ExporterFactory] = {
    "grpc": lambda s: GrpcSpanExporter(endpoint=f"http://{s.otlp_grpc}", insecure=True),
    "http/protobuf": lambda s: HttpSpanExporter(endpoint=f"{s.otlp_http}/v1/traces"),
}


def provider_for(service: str, exporter: SpanExporter) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.version": "1.2.3"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def emit_request(serve: ServeProcess, make_exporter: ExporterFactory) -> dict[str, str]:
    """A gateway → user-service request with typed attributes, an event, an error and a link."""
    gateway = provider_for("gateway", make_exporter(serve))
    users = provider_for("user-service", make_exporter(serve))
    gateway_tracer = gateway.get_tracer("tests.gateway", "0.1")
    user_tracer = users.get_tracer("tests.user")
    ids: dict[str, str] = {}
    with gateway_tracer.start_as_current_span(
        "GET /user/{id}",
        kind=SpanKind.SERVER,
        attributes={
            "http.route": "/user/{id}",
            "retries": 3,
            "ratio": 0.5,
            "cached": False,
            "labels": ["a", "b"],
        },
    ) as root:
        root.add_event("cache miss", {"cache.key": "user:42", "size": 7})
        with gateway_tracer.start_as_current_span(
            "user.UserService/GetUser", kind=SpanKind.CLIENT
        ) as client:
            with user_tracer.start_as_current_span(
                "user.UserService/GetUser", kind=SpanKind.SERVER, attributes={"user.id": 42}
            ) as handler:
                handler.record_exception(RuntimeError("database is down"))
                handler.set_status(Status(StatusCode.ERROR, "database is down"))
                ids["handler"] = format(handler.get_span_context().span_id, "016x")
            client.set_status(Status(StatusCode.ERROR, "UNAVAILABLE"))
            ids["client"] = format(client.get_span_context().span_id, "016x")
        ids["root"] = format(root.get_span_context().span_id, "016x")
        ids["trace"] = format(root.get_span_context().trace_id, "032x")
        root_context = root.get_span_context()
    with trace.use_span(trace.INVALID_SPAN):
        follow_up = gateway_tracer.start_span("retry later", links=[Link(root_context, {"n": 1})])
        follow_up.end()
    ids["follow_up_trace"] = format(follow_up.get_span_context().trace_id, "032x")
    gateway.shutdown()
    users.shutdown()
    return ids


def tag(span: dict[str, Any], key: str) -> dict[str, Any]:
    matches = [t for t in span["tags"] if t["key"] == key]
    assert matches, f"no tag {key!r} in {span['tags']}"
    return matches[0]


@pytest.mark.parametrize("protocol", sorted(EXPORTERS))
def test_sdk_exporter_spans_come_back_through_the_jaeger_api(
    serve: ServeProcess, protocol: str
) -> None:
    ids = emit_request(serve, EXPORTERS[protocol])

    services = serve.get("/api/services").json()["data"]
    assert {"gateway", "user-service"} <= set(services)

    body = serve.get(f"/api/traces/{ids['trace']}").json()
    (jaeger_trace,) = body["data"]
    spans = {s["spanID"]: s for s in jaeger_trace["spans"]}
    assert set(spans) == {ids["root"], ids["client"], ids["handler"]}

    root, client, handler = spans[ids["root"]], spans[ids["client"]], spans[ids["handler"]]
    assert root["references"] == []
    assert client["references"][0]["refType"] == "CHILD_OF"
    assert client["references"][0]["spanID"] == ids["root"]
    assert handler["references"][0]["spanID"] == ids["client"]

    processes = jaeger_trace["processes"]
    assert processes[root["processID"]]["serviceName"] == "gateway"
    assert processes[handler["processID"]]["serviceName"] == "user-service"
    version = [t for t in processes[root["processID"]]["tags"] if t["key"] == "service.version"]
    assert version[0]["value"] == "1.2.3"

    assert tag(root, "retries") == {"key": "retries", "type": "int64", "value": 3}
    assert tag(root, "ratio") == {"key": "ratio", "type": "float64", "value": 0.5}
    assert tag(root, "cached") == {"key": "cached", "type": "bool", "value": False}
    assert tag(root, "span.kind")["value"] == "server"
    (log,) = root["logs"]
    fields = {f["key"]: f["value"] for f in log["fields"]}
    assert fields["event"] == "cache miss"
    assert fields["size"] == 7

    assert tag(handler, "error")["value"] is True
    assert tag(handler, "otel.status_description")["value"] == "database is down"
    exception_fields = {f["key"]: f["value"] for f in handler["logs"][0]["fields"]}
    assert exception_fields["exception.type"] == "RuntimeError"
    assert tag(handler, "user.id") == {"key": "user.id", "type": "int64", "value": 42}

    follow_up = serve.get(f"/api/traces/{ids['follow_up_trace']}").json()["data"][0]
    (link,) = follow_up["spans"][0]["references"]
    assert link == {"refType": "FOLLOWS_FROM", "traceID": ids["trace"], "spanID": ids["root"]}


def test_search_by_service_tag_and_errors(serve: ServeProcess) -> None:
    ids = emit_request(serve, EXPORTERS["grpc"])
    found = serve.get("/api/traces", service="user-service", tags='{"user.id":"42"}').json()
    assert [t["traceID"] for t in found["data"]] == [ids["trace"]]
    errors = serve.get("/api/traces", service="gateway", tag="error:true").json()
    assert [t["traceID"] for t in errors["data"]] == [ids["trace"]]
    none = serve.get("/api/traces", service="gateway", tags='{"user.id":"43"}').json()
    assert none["data"] == []
    operations = serve.get("/api/services/user-service/operations").json()["data"]
    assert operations == ["user.UserService/GetUser"]
    now_ms = time.time_ns() // 1_000_000
    dependencies = serve.get("/api/dependencies", endTs=now_ms, lookback=3_600_000).json()["data"]
    assert {"parent": "gateway", "child": "user-service", "callCount": 1} in dependencies


def test_restart_on_the_same_data_directory_keeps_every_trace(
    serve: ServeProcess, tmp_path: Path
) -> None:
    ids = emit_request(serve, EXPORTERS["http/protobuf"])
    output = serve.stop()
    assert serve.process.returncode == 0, output
    again = start_serve(tmp_path, serve.data_dir)
    try:
        spans = again.get(f"/api/traces/{ids['trace']}").json()["data"][0]["spans"]
        assert len(spans) == 3
        assert again.get(f"/api/traces/{ids['follow_up_trace']}").status_code == 200
    finally:
        again.stop()


def test_serve_prints_where_to_send_spans_and_where_to_look(serve: ServeProcess) -> None:
    output = serve.stop(sig=2)
    assert f"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{serve.otlp_grpc_port}" in output
    assert f"http://127.0.0.1:{serve.port}/api/" in output
    assert "stopped" in output
    assert serve.process.returncode == 0
