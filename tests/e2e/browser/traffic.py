"""Traces for the browser tests, made by the OpenTelemetry SDK and sent over OTLP/HTTP."""

from __future__ import annotations

import time
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Tracer, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tests.e2e.serve_process import ServeProcess

XSS = "<img src=x onerror=alert(1)>"
MS = 1_000_000


@dataclass
class Sent:
    """Ids of what was sent, for the tests to look for."""

    checkout_trace: str
    payment_span: str
    order_span: str
    user_traces: list[str]
    big_trace: str
    big_last_span: str


class _Services:
    """One TracerProvider (one resource) per service, all exporting to the server."""

    def __init__(self, serve: ServeProcess) -> None:
        self.serve = serve
        self.providers: dict[str, TracerProvider] = {}

    def tracer(self, service: str) -> Tracer:
        provider = self.providers.get(service)
        if provider is None:
            provider = TracerProvider(
                resource=Resource.create({"service.name": service, "host.name": f"{service}-1"})
            )
            exporter = OTLPSpanExporter(endpoint=f"{self.serve.otlp_http}/v1/traces")
            provider.add_span_processor(
                BatchSpanProcessor(exporter, max_queue_size=20_000, max_export_batch_size=2048)
            )
            self.providers[service] = provider
        return provider.get_tracer("tests.browser", "1.0")  # type: ignore[return-value]

    def flush(self) -> None:
        for provider in self.providers.values():
            provider.force_flush()
            provider.shutdown()


def _hex_trace(span: trace.Span) -> str:
    return format(span.get_span_context().trace_id, "032x")


def _hex_span(span: trace.Span) -> str:
    return format(span.get_span_context().span_id, "016x")


def _checkout(services: _Services, t0: int) -> tuple[str, str, str]:
    """gateway → order → (payment fails, inventory), with typed attributes and an XSS tag."""
    gateway, order = services.tracer("gateway"), services.tracer("order")
    payment, inventory = services.tracer("payment"), services.tracer("inventory")
    root = gateway.start_span(
        "POST /checkout",
        kind=SpanKind.SERVER,
        start_time=t0,
        attributes={
            "http.route": "/checkout",
            "http.status_code": 502,
            "customer.tier": "gold",
            "note": XSS,
            "cart.items": 3,
            "ratio": 0.25,
            "cached": False,
            "labels": ["a", "b"],
        },
    )
    ctx = trace.set_span_in_context(root)
    call = gateway.start_span("order.Create", ctx, SpanKind.CLIENT, start_time=t0 + 2 * MS)
    ctx = trace.set_span_in_context(call)
    handler = order.start_span("order.Create", ctx, SpanKind.SERVER, start_time=t0 + 4 * MS)
    ctx = trace.set_span_in_context(handler)
    reserve = order.start_span("inventory.Reserve", ctx, SpanKind.CLIENT, start_time=t0 + 6 * MS)
    stock = inventory.start_span(
        "inventory.Reserve",
        trace.set_span_in_context(reserve),
        SpanKind.SERVER,
        start_time=t0 + 7 * MS,
        attributes={"sku": "X-1"},
    )
    stock.end(end_time=t0 + 25 * MS)
    reserve.end(end_time=t0 + 26 * MS)
    charge = order.start_span("payment.Charge", ctx, SpanKind.CLIENT, start_time=t0 + 28 * MS)
    card = payment.start_span(
        "payment.Charge",
        trace.set_span_in_context(charge),
        SpanKind.SERVER,
        start_time=t0 + 30 * MS,
        attributes={"payment.amount": 42.5},
    )
    try:
        raise RuntimeError("card declined")
    except RuntimeError as exc:
        card.record_exception(exc, timestamp=t0 + 70 * MS)
    card.set_status(Status(StatusCode.ERROR, "card declined"))
    card.end(end_time=t0 + 80 * MS)
    charge.set_status(Status(StatusCode.ERROR, "UNAVAILABLE"))
    charge.end(end_time=t0 + 82 * MS)
    handler.end(end_time=t0 + 85 * MS)
    call.end(end_time=t0 + 88 * MS)
    root.end(end_time=t0 + 90 * MS)
    return _hex_trace(root), _hex_span(card), _hex_span(handler)


def _user_lookup(services: _Services, t0: int, n: int, root_context: trace.SpanContext) -> str:
    gateway, users = services.tracer("gateway"), services.tracer("user")
    root = gateway.start_span(
        "GET /user/{id}",
        context=trace.set_span_in_context(trace.INVALID_SPAN),
        kind=SpanKind.SERVER,
        start_time=t0,
        attributes={"http.route": "/user/{id}", "user.id": n},
        links=[Link(root_context, {"reason": "same session"})] if n == 0 else None,
    )
    ctx = trace.set_span_in_context(root)
    handler = users.start_span("user.Get", ctx, SpanKind.SERVER, start_time=t0 + MS)
    handler.end(end_time=t0 + (5 + 3 * n) * MS)
    root.end(end_time=t0 + (7 + 3 * n) * MS)
    return _hex_trace(root)


def _big(services: _Services, t0: int, spans: int) -> tuple[str, str]:
    """One trace of ``spans`` spans: a root with batches of nested children."""
    batch = services.tracer("batch")
    root = batch.start_span(
        "nightly-import",
        context=trace.set_span_in_context(trace.INVALID_SPAN),
        kind=SpanKind.INTERNAL,
        start_time=t0,
    )
    ctx = trace.set_span_in_context(root)
    last = root
    per_group = 10
    made = 1
    group = 0
    while made < spans:
        start = t0 + group * 100_000
        parent = batch.start_span(f"import-group-{group}", ctx, start_time=start)
        made += 1
        inner = trace.set_span_in_context(parent)
        for i in range(min(per_group - 1, spans - made)):
            last = batch.start_span(f"row-{group}-{i}", inner, start_time=start + i * 9_000)
            last.end(end_time=start + i * 9_000 + 8_000)
            made += 1
        parent.end(end_time=start + 95_000)
        group += 1
    root.end(end_time=t0 + group * 100_000 + 1_000)
    return _hex_trace(root), _hex_span(last)


def send_traffic(serve: ServeProcess, big_spans: int = 10_000) -> Sent:
    """Send the test traces (a few seconds old, so that "last 5 minutes" finds them)."""
    services = _Services(serve)
    now = time.time_ns()
    checkout, payment_span, order_span = _checkout(services, now - 60_000 * MS)
    root_context = trace.SpanContext(
        int(checkout, 16), int(order_span, 16), is_remote=True, trace_flags=trace.TraceFlags(1)
    )
    users = [
        _user_lookup(services, now - (50_000 - n * 5_000) * MS, n, root_context) for n in range(4)
    ]
    big, big_last = _big(services, now - 40_000 * MS, big_spans)
    services.flush()
    return Sent(checkout, payment_span, order_span, users, big, big_last)
