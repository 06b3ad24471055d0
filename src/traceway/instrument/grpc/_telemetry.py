"""What one interceptor records: a span per call and the `rpc.*.duration` histogram."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from time import perf_counter_ns
from typing import Any, Final

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

from traceway import __version__
from traceway.instrument.grpc._common import (
    SERVER_ERROR_CODES,
    MetadataLike,
    RequestHook,
    ResponseHook,
    method_name,
    normalize_exclusions,
    parse_peer,
    parse_target,
    split_method,
)

_LOGGER = logging.getLogger("traceway.instrument.grpc")
_SCOPE: Final = "traceway.instrument.grpc"
_CLIENT_ERROR_CODES: Final = frozenset(range(1, 17))
_MAX_CACHED_METHODS: Final = 4096

Attributes = dict[str, AttributeValue]


class Rpc:
    """One method's span name, span attributes and histogram attributes."""

    __slots__ = ("_by_code", "_metric_base", "attributes", "name")

    def __init__(self, name: str, attributes: Attributes, metric_base: Attributes) -> None:
        self.name = name
        self.attributes = attributes
        self._metric_base = metric_base
        self._by_code: dict[int, Attributes] = {}

    def metric_attributes(self, code: int) -> Attributes:
        """Histogram attributes for a call that ended with `code`."""
        attributes = self._by_code.get(code)
        if attributes is None:
            attributes = {**self._metric_base, "rpc.grpc.status_code": code}
            self._by_code[code] = attributes
        return attributes


class RpcTelemetry:
    """Tracer, duration histogram, exclusions and hooks of one interceptor."""

    def __init__(
        self,
        kind: SpanKind,
        *,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
        excluded_methods: Iterable[str] | None,
        request_hook: RequestHook | None,
        response_hook: ResponseHook | None,
        target: str | None = None,
    ) -> None:
        self.kind = kind
        self.request_hook = request_hook
        self.response_hook = response_hook
        self._tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider)
        side, direction = (
            ("client", "outbound") if kind is SpanKind.CLIENT else ("server", "inbound")
        )
        self._duration = meter.create_histogram(
            f"rpc.{side}.duration",
            unit="ms",
            description=f"Measures the duration of {direction} RPC.",
        )
        self.error_codes = _CLIENT_ERROR_CODES if kind is SpanKind.CLIENT else SERVER_ERROR_CODES
        self._excluded = normalize_exclusions(excluded_methods)
        self._server: Attributes = {}
        if target is not None:
            address, port = parse_target(target)
            if address is not None:
                self._server["server.address"] = address
            if port is not None:
                self._server["server.port"] = port
        self._rpcs: dict[str | bytes, Rpc | None] = {}

    def describe(self, method: str | bytes) -> Rpc | None:
        """The method's names and attributes, or None when it is excluded from tracing."""
        try:
            return self._rpcs[method]
        except KeyError:
            pass
        rpc = self._build(method)
        if len(self._rpcs) < _MAX_CACHED_METHODS:
            self._rpcs[method] = rpc
        return rpc

    def describe_unknown(self, method: str | bytes) -> Rpc | None:
        """Like `describe` for a method no handler serves: not cached, `_OTHER` in metrics."""
        rpc = self._build(method)
        if rpc is None:
            return None
        return Rpc(rpc.name, rpc.attributes, {"rpc.system": "grpc", "rpc.method": "_OTHER"})

    def _build(self, method: str | bytes) -> Rpc | None:
        name = method_name(method)
        service, short = split_method(name)
        if name in self._excluded or service in self._excluded:
            return None
        # Histograms keep to the rpc.* names; server.* stays on spans (fewer series, cheaper).
        shared: Attributes = {"rpc.system": "grpc"}
        if service is not None:
            shared["rpc.service"] = service
        shared["rpc.method"] = short
        return Rpc(name, {**shared, **self._server}, shared)

    def start(self, rpc: Rpc, parent: Context | None = None) -> ActiveRpc:
        """Start the span of one call, a child of `parent` (default: the current context)."""
        span = self._tracer.start_span(rpc.name, parent, self.kind, rpc.attributes)
        return ActiveRpc(self, rpc, span)

    def record_duration(self, rpc: Rpc, code: int, elapsed_ns: int) -> None:
        """Add one call to the duration histogram."""
        self._duration.record(elapsed_ns / 1e6, rpc.metric_attributes(code))


class ActiveRpc:
    """The span and clock of one call in flight; `end` is idempotent."""

    __slots__ = ("_ended", "_peer", "_recording", "_rpc", "_start", "_telemetry", "span")

    def __init__(self, telemetry: RpcTelemetry, rpc: Rpc, span: Span) -> None:
        self._telemetry = telemetry
        self._rpc = rpc
        self.span = span
        self._recording = span.is_recording()
        self._peer: str | None = None
        self._ended = False
        self._start = perf_counter_ns()

    @property
    def recording(self) -> bool:
        """Whether the span records (is sampled): attributes and hooks are worth it."""
        return self._recording

    def on_request(self, request: Any, metadata: MetadataLike) -> None:
        """Run the request hook, if any, while the span is recording."""
        hook = self._telemetry.request_hook
        if hook is not None and self._recording:
            try:
                hook(self.span, request, tuple(metadata or ()))
            except Exception:
                _LOGGER.exception("gRPC request_hook failed; the call goes on without it")

    @property
    def wants_response(self) -> bool:
        """Whether `on_response` would run a hook (so the response is worth fetching)."""
        return self._telemetry.response_hook is not None and self._recording

    def on_response(self, response: Any) -> None:
        """Run the response hook, if any, while the span is recording."""
        hook = self._telemetry.response_hook
        if hook is not None and self._recording:
            try:
                hook(self.span, response)
            except Exception:
                _LOGGER.exception("gRPC response_hook failed; the call goes on without it")

    def set_peer(self, peer: str) -> None:
        """Remember the remote address of a server call (`context.peer()`) for the span."""
        self._peer = peer

    def fail(self, exc: BaseException, code: int) -> None:
        """End the span with ``code`` because ``exc`` was raised, recording the exception."""
        self.end(code, f"{type(exc).__name__}: {exc}", exc)

    def end(
        self, code: int, description: str | None = None, exception: BaseException | None = None
    ) -> None:
        """End the span with a gRPC status and record the call's duration."""
        if self._ended:
            return
        self._ended = True
        elapsed = perf_counter_ns() - self._start
        span = self.span
        if self._recording:
            attributes: Attributes = {"rpc.grpc.status_code": code}
            if self._peer:
                address, port = parse_peer(self._peer)
                if address is not None:
                    attributes["network.peer.address"] = address
                if port is not None:
                    attributes["network.peer.port"] = port
            span.set_attributes(attributes)
            if exception is not None:
                span.record_exception(exception)
            if code in self._telemetry.error_codes:
                span.set_status(Status(StatusCode.ERROR, description or None))
        span.end()
        self._telemetry.record_duration(self._rpc, code, elapsed)
