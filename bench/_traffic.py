"""Spans shaped like real traffic, for the benchmarks: deterministic for a seed.

Traces of 5-10 spans across five services (gateway, user, auth, order, shipping),
each span with about ten attributes in OpenTelemetry's semantic conventions (a few of
them of high cardinality: user ids, order ids, peer ports), about 4% of traces with
an error (status ERROR and an ``exception`` event), and message events on some gRPC
spans. Ids come from the seeded generator, so two generators with different seeds
never share a span.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from traceway.model import Event, InstrumentationScope, Resource, Span, SpanKind, StatusCode

__all__ = ["SERVICES", "TrafficGenerator"]

SERVICES = ("gateway", "user", "auth", "order", "shipping")
_MS = 1_000_000

_SCOPES = {
    "http": InstrumentationScope("opentelemetry.instrumentation.asgi", "0.48b0"),
    "grpc": InstrumentationScope("traceway.instrument.grpc", "0.1.0"),
    "db": InstrumentationScope("opentelemetry.instrumentation.psycopg", "0.48b0"),
}
_ROUTES = (
    ("GET", "/api/orders/{order_id}", "order", "GetOrder"),
    ("POST", "/api/orders", "order", "CreateOrder"),
    ("GET", "/api/users/{user_id}", "user", "GetUser"),
    ("GET", "/api/shipping/quote", "shipping", "Quote"),
    ("POST", "/api/login", "auth", "Login"),
)
_TABLES = {"user": "users", "auth": "sessions", "order": "orders", "shipping": "shipments"}
_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15",
    "python-httpx/0.28.1",
    "okhttp/4.12.0",
)


def _resource(service: str, instance: int) -> Resource:
    return Resource(
        {
            "service.name": service,
            "service.version": "1.4.2",
            "service.instance.id": f"{service}-{instance}",
            "host.name": f"node-{instance}",
            "deployment.environment": "prod",
            "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "opentelemetry",
            "telemetry.sdk.version": "1.27.0",
            "process.pid": 4000 + instance,
        }
    )


@dataclass(slots=True)
class _Trace:
    """The state of one trace being generated."""

    trace_id: str
    user_id: int
    order_id: int
    failing: bool


class TrafficGenerator:
    """Endless traces starting at ``start_ns``, one every ``interval_ns`` on average."""

    def __init__(self, seed: int, start_ns: int, interval_ns: int = 10 * _MS) -> None:
        self._random = random.Random(seed)
        self._now = start_ns
        self._interval = interval_ns
        self._resources = {
            service: [_resource(service, instance) for instance in range(3)] for service in SERVICES
        }

    def traces(self) -> Iterator[list[Span]]:
        while True:
            yield self.trace()

    def spans(self, count: int) -> list[Span]:
        """At least ``count`` spans, in whole traces."""
        spans: list[Span] = []
        while len(spans) < count:
            spans.extend(self.trace())
        return spans

    def _id(self, digits: int) -> str:
        return f"{self._random.getrandbits(4 * digits) | 1:0{digits}x}"

    def _duration(self, median_ms: float) -> int:
        return max(1000, int(self._random.lognormvariate(0, 0.6) * median_ms * _MS))

    def trace(self) -> list[Span]:
        """One trace: gateway → service (→ auth) → database, 5-10 spans."""
        rnd = self._random
        self._now += int(rnd.expovariate(1.0) * self._interval)
        method, route, callee, rpc = rnd.choice(_ROUTES)
        trace = _Trace(
            self._id(32), rnd.randrange(20_000), rnd.randrange(10**9), rnd.random() < 0.04
        )
        start, total = self._now, self._duration(40) + 10 * _MS
        root = self._http_server(trace, start, total, method, route)
        spans = [root]
        cursor = start + _MS
        while len(spans) < 5 or (len(spans) < 10 and rnd.random() < 0.45):
            service = callee if len(spans) < 5 or rnd.random() < 0.5 else rnd.choice(SERVICES[1:])
            budget = max(2 * _MS, (start + total - cursor) // 2)
            client, server = self._grpc_pair(trace, root, cursor, budget, service, rpc)
            spans += [client, server]
            if len(spans) < 10 and rnd.random() < 0.8:
                spans.append(self._db_query(trace, server, service))
            cursor += budget // 3
        return spans[:10]

    def _span(
        self,
        trace: _Trace,
        parent: Span | None,
        service: str,
        scope: str,
        name: str,
        kind: SpanKind,
        start: int,
        duration: int,
        attributes: dict[str, object],
        error: bool = False,
    ) -> Span:
        events: tuple[Event, ...] = ()
        if error:
            events = (
                Event(
                    start + duration // 2,
                    "exception",
                    {
                        "exception.type": "grpc.RpcError",
                        "exception.message": "StatusCode.UNAVAILABLE: upstream connect error",
                        "exception.escaped": False,
                    },
                ),
            )
        elif scope == "grpc" and self._random.random() < 0.15:
            events = (
                Event(start + 1000, "message", {"message.type": "SENT", "message.id": 1}),
                Event(
                    start + duration - 1000,
                    "message",
                    {"message.type": "RECEIVED", "message.id": 1},
                ),
            )
        return Span(
            trace_id=trace.trace_id,
            span_id=self._id(16),
            parent_span_id=parent.span_id if parent is not None else "",
            name=name,
            kind=kind,
            start_time_unix_nano=start,
            end_time_unix_nano=start + duration,
            attributes=attributes,  # type: ignore[arg-type]
            status_code=StatusCode.ERROR if error else StatusCode.UNSET,
            status_message="upstream connect error" if error else "",
            resource=self._random.choice(self._resources[service]),
            scope=_SCOPES[scope],
            events=events,
            flags=0x101,
        )

    def _http_server(
        self, trace: _Trace, start: int, duration: int, method: str, route: str
    ) -> Span:
        rnd = self._random
        path = route.replace("{order_id}", str(trace.order_id)).replace(
            "{user_id}", str(trace.user_id)
        )
        status = 503 if trace.failing else rnd.choice((200, 200, 200, 200, 201, 304, 404))
        attributes: dict[str, object] = {
            "http.request.method": method,
            "http.route": route,
            "url.path": path,
            "url.scheme": "https",
            "http.response.status_code": status,
            "server.address": "api.example.com",
            "server.port": 443,
            "network.protocol.version": "1.1",
            "user_agent.original": rnd.choice(_AGENTS),
            "client.address": f"10.{rnd.randrange(4)}.{rnd.randrange(256)}.{rnd.randrange(256)}",
            "enduser.id": str(trace.user_id),
        }
        return self._span(
            trace, None, "gateway", "http", f"{method} {route}", SpanKind.SERVER, start, duration,
            attributes, error=trace.failing,
        )  # fmt: skip

    def _grpc_pair(
        self, trace: _Trace, parent: Span, start: int, budget: int, service: str, rpc: str
    ) -> tuple[Span, Span]:
        rnd = self._random
        rpc_service = f"{service}.{service.capitalize()}Service"
        failing = trace.failing and rnd.random() < 0.5
        code = 14 if failing else 0
        duration = max(_MS, min(budget, self._duration(8)))
        offset = rnd.randrange(100_000, 400_000)
        common: dict[str, object] = {
            "rpc.system": "grpc",
            "rpc.service": rpc_service,
            "rpc.method": rpc,
            "rpc.grpc.status_code": code,
        }
        client = self._span(
            trace, parent, parent.resource.service_name, "grpc", f"{rpc_service}/{rpc}",
            SpanKind.CLIENT, start, duration,
            {
                **common,
                "server.address": f"{service}.internal",
                "server.port": 50051,
                "network.peer.address": f"10.8.{rnd.randrange(4)}.{rnd.randrange(2, 40)}",
                "network.transport": "tcp",
                "network.type": "ipv4",
                "enduser.id": str(trace.user_id),
            },
            error=failing,
        )  # fmt: skip
        server = self._span(
            trace, client, service, "grpc", f"{rpc_service}/{rpc}", SpanKind.SERVER,
            start + offset, duration - 2 * offset,
            {
                **common,
                "server.address": f"{service}.internal",
                "server.port": 50051,
                "client.address": f"10.8.{rnd.randrange(4)}.{rnd.randrange(2, 40)}",
                "client.port": rnd.randrange(32768, 61000),
                "order.id": trace.order_id,
                "enduser.id": str(trace.user_id),
            },
            error=failing,
        )  # fmt: skip
        return client, server

    def _db_query(self, trace: _Trace, parent: Span, service: str) -> Span:
        rnd = self._random
        table = _TABLES.get(service, "events")
        operation = rnd.choice(("SELECT", "SELECT", "SELECT", "UPDATE", "INSERT"))
        statement = {
            "SELECT": f"SELECT * FROM {table} WHERE id = $1",
            "UPDATE": f"UPDATE {table} SET updated_at = now() WHERE id = $1",
            "INSERT": f"INSERT INTO {table} (id, data) VALUES ($1, $2)",
        }[operation]
        start = parent.start_time_unix_nano + rnd.randrange(100_000, 500_000)
        duration = min(parent.duration_ns // 2, self._duration(2)) + 1000
        return self._span(
            trace, parent, service, "db", f"{operation} {table}", SpanKind.CLIENT, start, duration,
            {
                "db.system": "postgresql",
                "db.namespace": service,
                "db.operation.name": operation,
                "db.collection.name": table,
                "db.query.text": statement,
                "server.address": "postgres.internal",
                "server.port": 5432,
                "network.peer.address": "10.9.0.5",
                "db.response.returned_rows": rnd.randrange(0, 3),
                "db.client.connection.pool.name": f"{service}-pool",
            },
        )  # fmt: skip
