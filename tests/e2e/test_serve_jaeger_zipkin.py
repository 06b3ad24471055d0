"""Real Jaeger and Zipkin client libraries → ``traceway serve`` subprocess → Jaeger API.

Services reporting with jaeger-client (UDP compact and binary, Thrift over HTTP),
py_zipkin (v2 JSON and proto3) and OpenTelemetry's Zipkin exporter come back with
their services, parentage, tags, events and errors; a trace whose spans arrive over
OTLP, Zipkin and Jaeger at once comes back as one trace.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from jaeger_client import Config, SpanContext, Tracer
from jaeger_client.reporter import InMemoryReporter, Reporter
from jaeger_client.sampler import ConstSampler
from jaeger_client.thrift import make_jaeger_batch, make_process
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentracing import follows_from
from py_zipkin import Kind
from py_zipkin.encoding import Encoding
from py_zipkin.request_helpers import create_http_headers
from py_zipkin.transport import SimpleHTTPTransport
from py_zipkin.zipkin import ZipkinAttrs, zipkin_span
from thrift.protocol import TBinaryProtocol
from thrift.transport import TTransport

from tests.e2e.serve_process import ServeProcess, start_serve

JAEGER_TRANSPORTS = ["udp-compact", "udp-binary", "http-thrift"]


def wait_for_trace(serve: ServeProcess, trace_id: str, spans: int) -> dict[str, Any]:
    """The trace once ``spans`` spans of it are stored (UDP gives no acknowledgement)."""
    for _ in range(200):
        response = serve.get(f"/api/traces/{trace_id}")
        if response.status_code == 200:
            (trace,) = response.json()["data"]
            if len(trace["spans"]) >= spans:
                return trace  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"trace {trace_id} did not get {spans} spans: {response.text}")


def tags(span: dict[str, Any]) -> dict[str, Any]:
    return {t["key"]: t["value"] for t in span["tags"]}


def typed(span: dict[str, Any], key: str) -> tuple[str, Any]:
    (found,) = [(t["type"], t["value"]) for t in span["tags"] if t["key"] == key]
    return found


def service_of(trace: dict[str, Any], span: dict[str, Any]) -> str:
    return trace["processes"][span["processID"]]["serviceName"]  # type: ignore[no-any-return]


def parent_of(span: dict[str, Any]) -> str:
    child_of = [r["spanID"] for r in span["references"] if r["refType"] == "CHILD_OF"]
    return child_of[0] if child_of else ""


# --- jaeger-client -------------------------------------------------------------------


class BinaryReporter(Reporter):  # type: ignore[misc]
    """jaeger-client's reporter speaking the binary protocol, as Node's client does on 6832."""

    def getProtocol(self, transport: Any) -> Any:
        return TBinaryProtocol.TBinaryProtocol(transport)


@contextmanager
def jaeger_tracer(serve: ServeProcess, service: str, transport: str) -> Iterator[Tracer]:
    """A jaeger-client tracer reporting to ``serve``; its spans are sent when the block ends."""
    if transport == "http-thrift":
        reporter = InMemoryReporter()
        tracer = Tracer(service_name=service, reporter=reporter, sampler=ConstSampler(True))
        yield tracer
        batch = make_jaeger_batch(reporter.get_spans(), make_process(service, tracer.tags, 1024))
        buffer = TTransport.TMemoryBuffer()
        batch.write(TBinaryProtocol.TBinaryProtocol(buffer))
        response = httpx.post(
            f"http://127.0.0.1:{serve.jaeger_thrift_http_port}/api/traces",
            content=buffer.getvalue(),
            headers={"Content-Type": "application/x-thrift"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        return
    port = (
        serve.jaeger_agent_compact_port
        if transport == "udp-compact"
        else serve.jaeger_agent_binary_port
    )
    config = Config(
        config={
            "sampler": {"type": "const", "param": 1},
            "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": port},
            "reporter_flush_interval": 0.01,
        },
        service_name=service,
        validate=True,
    )
    if transport == "udp-compact":
        tracer = config.new_tracer()
    else:
        channel = config._create_local_agent_channel(io_loop=None)
        tracer = config.create_tracer(
            reporter=BinaryReporter(channel=channel, flush_interval=0.01),
            sampler=ConstSampler(True),
        )
    yield tracer
    close_and_flush(tracer)


def close_and_flush(tracer: Tracer) -> None:
    """Close the tracer on its reporter's IOLoop, where its Future completes, and wait."""
    flushed = threading.Event()

    def close() -> None:
        tracer.close().add_done_callback(lambda _: flushed.set())

    tracer.reporter.io_loop.add_callback(close)
    assert flushed.wait(timeout=10), "jaeger-client did not flush its spans"


def emit_with_jaeger_client(serve: ServeProcess, transport: str) -> dict[str, str]:
    """An OpenTracing request: a server span, a failing child and a follow-up span."""
    ids: dict[str, str] = {}
    with jaeger_tracer(serve, "inventory", transport) as tracer:
        root = tracer.start_span(
            "GET /stock/{sku}",
            tags={"span.kind": "server", "retries": 3, "ratio": 0.5, "cached": False},
        )
        root.log_kv({"event": "cache miss", "cache.key": "sku:42", "size": 7})
        child = tracer.start_span("SELECT stock", child_of=root)
        child.set_tag("error", True)
        child.set_tag("db.system", "postgresql")
        child.log_kv({"event": "error", "message": "connection reset"})
        child.finish()
        root.finish()
        follow_up = tracer.start_span("reindex", references=follows_from(root.context))
        follow_up.finish()
        ids.update(
            trace=f"{root.trace_id:032x}",
            root=f"{root.span_id:016x}",
            child=f"{child.span_id:016x}",
            follow_up=f"{follow_up.span_id:016x}",
        )
    return ids


@pytest.mark.parametrize("transport", JAEGER_TRANSPORTS)
def test_jaeger_client_spans_come_back_through_the_api(serve: ServeProcess, transport: str) -> None:
    ids = emit_with_jaeger_client(serve, transport)

    trace = wait_for_trace(serve, ids["trace"], spans=3)
    assert ids["trace"].startswith("0" * 16)  # 64-bit Jaeger ids, padded as Jaeger does
    spans = {s["spanID"]: s for s in trace["spans"]}
    root, child = spans[ids["root"]], spans[ids["child"]]
    assert root["references"] == []
    assert parent_of(child) == ids["root"]
    assert service_of(trace, root) == "inventory"
    process_tags = {t["key"] for t in trace["processes"][root["processID"]]["tags"]}
    assert {"host.name", "ip", "jaeger.version"} <= process_tags

    assert typed(root, "retries") == ("int64", 3)
    assert typed(root, "ratio") == ("float64", 0.5)
    assert typed(root, "cached") == ("bool", False)
    assert tags(root)["span.kind"] == "server"
    (log,) = root["logs"]
    assert {f["key"]: f["value"] for f in log["fields"]} == {
        "event": "cache miss",
        "cache.key": "sku:42",
        "size": 7,
    }
    assert tags(child)["error"] is True
    assert tags(child)["otel.status_code"] == "ERROR"
    assert tags(child)["db.system"] == "postgresql"

    assert "inventory" in serve.get("/api/services").json()["data"]
    errors = serve.get("/api/traces", service="inventory", tag="error:true").json()["data"]
    assert [t["traceID"] for t in errors] == [ids["trace"]]

    # OpenTracing's follows_from: parent by parentSpanId, and the reference kept as a link.
    follow_up = {(r["refType"], r["spanID"]) for r in spans[ids["follow_up"]]["references"]}
    assert follow_up == {("CHILD_OF", ids["root"]), ("FOLLOWS_FROM", ids["root"])}


# --- py_zipkin and OpenTelemetry's Zipkin exporter --------------------------------------


def zipkin_transport(serve: ServeProcess) -> SimpleHTTPTransport:
    assert serve.zipkin_port is not None
    return SimpleHTTPTransport("127.0.0.1", serve.zipkin_port)


def in_another_process(work: Callable[[], None]) -> None:
    """py_zipkin keeps its context per thread: a thread stands in for the called service."""
    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=30)


def serve_users_with_py_zipkin(
    serve: ServeProcess, encoding: Encoding, b3: dict[str, Any], ids: dict[str, str]
) -> None:
    """The ``users`` service joins the caller's span (Zipkin's shared span) and fails."""
    attrs = ZipkinAttrs(
        trace_id=b3["X-B3-TraceId"],
        span_id=b3["X-B3-SpanId"],
        parent_span_id=b3.get("X-B3-ParentSpanId"),
        flags="0",
        is_sampled=True,
    )
    with zipkin_span(
        service_name="users",
        span_name="get /users/{id}",
        transport_handler=zipkin_transport(serve),
        encoding=encoding,
        kind=Kind.SERVER,
        zipkin_attrs=attrs,
        host="127.0.0.1",
        port=8080,
    ) as server:
        server.update_binary_annotations({"user.id": "42"})
        server.add_annotation("cache miss")
        try:
            with zipkin_span(service_name="users", span_name="select user") as query:
                query.update_binary_annotations({"db.system": "sqlite"})
                ids["query"] = query.zipkin_attrs.span_id
                raise RuntimeError("database is down")
        except RuntimeError:
            pass
        with zipkin_span(service_name="users", span_name="get /orders", kind=Kind.CLIENT) as call:
            ids["users_client"] = call.zipkin_attrs.span_id
            b3.update(create_http_headers())


@pytest.mark.parametrize("encoding", [Encoding.V2_JSON, Encoding.V2_PROTO3], ids=["json", "proto3"])
def test_py_zipkin_spans_come_back_through_the_api(serve: ServeProcess, encoding: Encoding) -> None:
    ids: dict[str, str] = {}
    with zipkin_span(
        service_name="gateway",
        span_name="get /profile",
        transport_handler=zipkin_transport(serve),
        encoding=encoding,
        kind=Kind.SERVER,
        sample_rate=100.0,
        use_128bit_trace_id=False,
    ) as root:
        with zipkin_span(service_name="gateway", span_name="get /users", kind=Kind.CLIENT) as call:
            b3 = create_http_headers()
            in_another_process(lambda: serve_users_with_py_zipkin(serve, encoding, b3, ids))
            ids["client"] = call.zipkin_attrs.span_id
        ids["root"] = root.zipkin_attrs.span_id
        ids["trace"] = root.zipkin_attrs.trace_id.rjust(32, "0")

    trace = wait_for_trace(serve, ids["trace"], spans=5)
    by_name = {s["operationName"]: s for s in trace["spans"]}
    root_span, client = by_name["get /profile"], by_name["get /users"]
    server, query = by_name["get /users/{id}"], by_name["select user"]
    assert service_of(trace, root_span) == service_of(trace, client) == "gateway"
    assert service_of(trace, server) == service_of(trace, query) == "users"
    assert parent_of(client) == ids["root"]
    # The shared server span has its own id, under the client span that started it.
    assert parent_of(server) == ids["client"]
    assert server["spanID"] != ids["client"]
    assert parent_of(query) == server["spanID"]
    assert tags(server)["span.kind"] == "server"
    assert tags(server)["user.id"] == "42"
    assert tags(server)["net.host.port"] == 8080
    assert [f["value"] for f in server["logs"][0]["fields"]] == ["cache miss"]
    assert tags(query)["error"] is True
    assert tags(query)["otel.status_description"] == "RuntimeError: database is down"


def test_opentelemetry_zipkin_exporter_spans_keep_status_events_and_scope(
    serve: ServeProcess,
) -> None:
    exporter = ZipkinExporter(endpoint=f"http://127.0.0.1:{serve.zipkin_port}/api/v2/spans")
    provider = provider_for("billing", exporter)
    tracer = provider.get_tracer("tests.billing", "0.3")
    with tracer.start_as_current_span("charge", kind=SpanKind.CLIENT) as span:
        span.set_attribute("amount", 12)
        span.add_event("retry", {"attempt": 2})
        span.set_status(Status(StatusCode.ERROR, "card declined"))
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()

    (stored,) = wait_for_trace(serve, trace_id, spans=1)["spans"]
    assert tags(stored)["otel.scope.name"] == "tests.billing"
    assert tags(stored)["otel.status_code"] == "ERROR"
    assert tags(stored)["otel.status_description"] == "card declined"
    assert tags(stored)["span.kind"] == "client"
    assert tags(stored)["amount"] == "12"  # Zipkin tags are strings
    fields = {f["key"]: f["value"] for f in stored["logs"][0]["fields"]}
    assert fields == {"event": "retry", "attempt": 2}


# --- one trace across OTLP, Zipkin and Jaeger ---------------------------------------------


def provider_for(service: str, exporter: SpanExporter) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_a_trace_sent_over_otlp_zipkin_and_jaeger_is_one_trace(serve: ServeProcess) -> None:
    """gateway (OpenTelemetry, OTLP) → users (py_zipkin) → orders (jaeger-client, UDP)."""
    ids: dict[str, str] = {}
    provider = provider_for("gateway", OTLPSpanExporter(endpoint=f"http://{serve.otlp_grpc}"))
    tracer = provider.get_tracer("tests.gateway")
    with (
        tracer.start_as_current_span("GET /checkout", kind=SpanKind.SERVER) as root,
        tracer.start_as_current_span("users.get", kind=SpanKind.CLIENT) as call,
    ):
        context = call.get_span_context()
        ids["trace"] = format(context.trace_id, "032x")
        ids["gateway_client"] = format(context.span_id, "016x")
        # What the B3 propagator would put on the wire for the users service.
        b3 = {"X-B3-TraceId": ids["trace"], "X-B3-SpanId": ids["gateway_client"]}
        b3["X-B3-ParentSpanId"] = format(root.get_span_context().span_id, "016x")
        in_another_process(lambda: serve_users_with_py_zipkin(serve, Encoding.V2_JSON, b3, ids))
    provider.shutdown()

    with jaeger_tracer(serve, "orders", "udp-compact") as jaeger:
        caller = SpanContext(
            trace_id=int(b3["X-B3-TraceId"], 16),
            span_id=int(b3["X-B3-SpanId"], 16),
            parent_id=None,
            flags=1,
        )
        orders = jaeger.start_span("GET /orders", child_of=caller, tags={"span.kind": "server"})
        orders.finish()
        ids["orders"] = f"{orders.span_id:016x}"

    trace = wait_for_trace(serve, ids["trace"], spans=6)
    assert {service_of(trace, s) for s in trace["spans"]} == {"gateway", "users", "orders"}
    spans = {s["spanID"]: s for s in trace["spans"]}
    users_server = next(s for s in trace["spans"] if s["operationName"] == "get /users/{id}")
    assert parent_of(users_server) == ids["gateway_client"]
    assert parent_of(spans[ids["orders"]]) == ids["users_client"]
    assert parent_of(spans[ids["users_client"]]) == users_server["spanID"]
    dependencies = serve.get(
        "/api/dependencies", endTs=time.time_ns() // 1_000_000, lookback=3_600_000
    ).json()["data"]
    pairs = {(d["parent"], d["child"]) for d in dependencies}
    assert {("gateway", "users"), ("users", "orders")} <= pairs


# --- bad input, limits and flags --------------------------------------------------------


def test_bad_input_gets_clear_errors_and_harms_nothing(tmp_path: Path) -> None:
    serve = start_serve(tmp_path, None, "--max-request-size", "64KiB")
    try:
        jaeger_url = f"http://127.0.0.1:{serve.jaeger_thrift_http_port}/api/traces"
        zipkin_url = f"http://127.0.0.1:{serve.zipkin_port}/api/v2/spans"
        thrift = {"Content-Type": "application/x-thrift"}
        garbage = httpx.post(jaeger_url, content=b"\xff\xff not thrift", headers=thrift)
        assert garbage.status_code == 400
        assert "Thrift" in garbage.text
        assert (
            httpx.post(
                jaeger_url, content=b"[]", headers={"Content-Type": "text/plain"}
            ).status_code
            == 415
        )
        big = httpx.post(zipkin_url, content=b"[" + b" " * 70_000 + b"]")
        assert big.status_code == 413
        assert httpx.post(zipkin_url, content=b"[{").status_code == 400

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"\x82\x81" + b"\xff" * 40, ("127.0.0.1", serve.jaeger_agent_compact_port))
        ids = emit_with_jaeger_client(serve, "udp-compact")
        wait_for_trace(serve, ids["trace"], spans=3)
    finally:
        output = serve.stop()
    assert serve.process.returncode == 0, output
    assert "Jaeger agent (compact): 1 datagram(s) dropped" in output


def test_receivers_can_be_turned_off(tmp_path: Path) -> None:
    serve = start_serve(tmp_path, None, "--no-jaeger", "--zipkin-port", "off")
    try:
        ready = (
            serve.jaeger_thrift_http_port,
            serve.jaeger_agent_compact_port,
            serve.jaeger_agent_binary_port,
            serve.zipkin_port,
        )
        assert ready == (None, None, None, None)
    finally:
        output = serve.stop()
    for endpoint in ("Zipkin", "Jaeger UDP", "/api/traces", "/api/v2/spans"):
        assert endpoint not in output


def test_the_banner_names_every_endpoint(serve: ServeProcess) -> None:
    output = serve.stop()
    assert f"UI          http://127.0.0.1:{serve.port}\n" in output
    assert f"API         http://127.0.0.1:{serve.port}/api/services" in output
    assert f"http://127.0.0.1:{serve.jaeger_thrift_http_port}/api/traces" in output
    assert f"127.0.0.1:{serve.jaeger_agent_compact_port} (compact)" in output
    assert f"127.0.0.1:{serve.jaeger_agent_binary_port} (binary)" in output
    assert f"http://127.0.0.1:{serve.zipkin_port}/api/v2/spans" in output


EPHEMERAL = [
    "--memory", "--port", "0", "--otlp-grpc-port", "0", "--otlp-http-port", "0",
    "--jaeger-thrift-http-port", "0", "--jaeger-agent-compact-port", "0",
    "--jaeger-agent-binary-port", "0", "--zipkin-port", "0",
]  # fmt: skip


@pytest.mark.parametrize(
    ("flag", "kind"),
    [("--zipkin-port", socket.SOCK_STREAM), ("--jaeger-agent-compact-port", socket.SOCK_DGRAM)],
)
def test_a_default_port_in_use_says_which_flag_moves_it(flag: str, kind: int) -> None:
    with socket.socket(socket.AF_INET, kind) as taken:
        taken.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "traceway.cli", "serve", *EPHEMERAL, flag, str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert f"{flag} PORT" in result.stderr
    assert "Traceback" not in result.stderr
