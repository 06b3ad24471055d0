"""configure(): one call that sets up the OpenTelemetry SDK for a traceway service.

It builds the SDK's own parts (TracerProvider, BatchSpanProcessor, OTLP exporters,
MeterProvider, W3C propagators) and installs them globally, once per process: the
OpenTelemetry API lets the global providers be set only once. So a second call with the
same options returns the same Instrumentation, and a second call with other options is
an error that says which options differ. If another party installed an SDK
TracerProvider first (``opentelemetry-instrument``, or ``traceway.testing``),
configure() keeps it and adds no exporters, so spans are never exported twice.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Literal

from opentelemetry import metrics as metrics_api
from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from traceway.instrument._exporters import (
    ProcessLocalMetricExporter,
    ProcessLocalSpanExporter,
    console_span_exporter,
    otlp_metric_exporter,
    otlp_span_exporter,
)
from traceway.instrument._instrumentation import Instrumentation
from traceway.instrument._logging import LogFormat, install_log_record_factory, instrument_logging
from traceway.instrument._settings import (
    ConfigurationError,
    OTLPProtocol,
    build_resource,
    build_sampler,
    exporters_enabled,
    otlp_endpoint,
    otlp_protocol,
)

__all__ = ["TESTING_PROVIDER_MARK", "configure", "under_pytest"]

_logger = logging.getLogger("traceway.instrument")

# Marks a TracerProvider that configure() may adopt silently (set by traceway.testing).
TESTING_PROVIDER_MARK = "traceway_testing"


_PER_PROCESS = frozenset({"process.pid", "process.parent_pid", "service.instance.id"})
"""Resource attributes a forked worker has of its own (the SDK makes an instance id per
process), where its configure() call is the same call as its parent's."""


@dataclass(frozen=True)
class _Setup:
    """Everything configure() resolved; two calls are the same call if these are equal."""

    resource: Resource = field(compare=False)
    sampler_description: str
    traces_endpoint: str | None
    traces_protocol: OTLPProtocol
    metrics_endpoint: str | None
    metrics_protocol: OTLPProtocol
    headers: tuple[tuple[str, str], ...]
    console: bool
    logs: LogFormat | None
    span_processors: tuple[SpanProcessor, ...]
    span_exporters: tuple[SpanExporter, ...]
    metric_readers: tuple[MetricReader, ...]
    sampler: Sampler = field(compare=False)

    def differences(self, other: _Setup) -> list[str]:
        found = [
            f.name
            for f in fields(self)
            if f.compare and getattr(self, f.name) != getattr(other, f.name)
        ]
        if _lasting(self.resource) != _lasting(other.resource):
            found.insert(0, "resource")
        return found


def _lasting(resource: Resource) -> dict[str, object]:
    return {k: v for k, v in resource.attributes.items() if k not in _PER_PROCESS}


_lock = threading.Lock()
_installed: Instrumentation | None = None
_installed_setup: _Setup | None = None  # None when configure() adopted a provider
_under_pytest = False
"""Set by the traceway pytest plugin before test modules are imported (``under_pytest``)."""


def under_pytest() -> None:
    """Called by the traceway pytest plugin: from now on a global configure() exports
    over OTLP only when asked explicitly (``traces=True``/``metrics=True`` or the
    ``OTEL_*_EXPORTER`` variables), so that an application module calling it at import
    sends nothing from the tests, and the ``spans`` fixture captures its spans."""
    global _under_pytest
    _under_pytest = True


def configure(
    service_name: str | None = None,
    *,
    service_version: str | None = None,
    environment: str | None = None,
    resource_attributes: Mapping[str, str | bool | int | float] | None = None,
    endpoint: str | None = None,
    protocol: OTLPProtocol | None = None,
    headers: Mapping[str, str] | None = None,
    sample_rate: float | None = None,
    traces: bool | None = None,
    metrics: bool | None = None,
    console: bool = False,
    logs: LogFormat | None = None,
    span_processors: Sequence[SpanProcessor] = (),
    span_exporters: Sequence[SpanExporter] = (),
    metric_readers: Sequence[MetricReader] = (),
    set_global: bool = True,
) -> Instrumentation:
    """Set up OpenTelemetry for this service and return what was set up.

    Every option falls back to its standard variable: ``service_name`` to
    ``OTEL_SERVICE_NAME``; ``service_version``/``environment`` (written as
    ``service.version``/``deployment.environment.name``) to ``OTEL_RESOURCE_ATTRIBUTES``;
    ``endpoint`` (a base URL) to ``OTEL_EXPORTER_OTLP[_TRACES|_METRICS]_ENDPOINT``, else
    127.0.0.1:4317 (grpc) or :4318 (http/protobuf); ``protocol`` to
    ``OTEL_EXPORTER_OTLP[_TRACES|_METRICS]_PROTOCOL``, else grpc; ``headers`` to
    ``OTEL_EXPORTER_OTLP_HEADERS``; ``sample_rate`` (parent-based trace-id ratio, default
    1.0) to ``OTEL_TRACES_SAMPLER``/``_ARG``; ``traces``/``metrics`` (export over OTLP) to
    ``OTEL_TRACES_EXPORTER``/``OTEL_METRICS_EXPORTER`` (metrics: off unless asked, since
    traceway serve takes traces only); ``logs`` ("text"/"json": add a
    root handler, see instrument_logging) to ``TRACEWAY_LOG_FORMAT``.

    ``span_processors`` are added as given, ``span_exporters`` behind a
    BatchSpanProcessor, ``metric_readers`` to the MeterProvider; ``console`` prints one
    line per span to stderr. With ``set_global=False`` nothing process-wide is touched
    (no global providers, propagators, logging or exit hooks): the caller owns the result.

    Spans the service could not deliver are counted, not held: with
    ``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED=true`` and a MeterProvider (metrics
    exported, or ``metric_readers`` given) the SDK's batch processors and OTLP exporters
    record their own metrics in it, among them
    ``otel.sdk.processor.span.processed`` (``error.type=queue_full``: dropped because the
    queue, ``OTEL_BSP_MAX_QUEUE_SIZE``, was full) and ``otel.sdk.exporter.span.exported``
    (``error.type`` set: the exporter gave up on them).
    """
    traces_protocol = otlp_protocol(protocol, "traces")
    metrics_protocol = otlp_protocol(protocol, "metrics")
    sampler = build_sampler(sample_rate)
    # Under pytest a global setup exports only what is asked for (``under_pytest``).
    unasked = "none" if _under_pytest and set_global else None
    setup = _Setup(
        resource=build_resource(
            service_name,
            service_version=service_version,
            environment=environment,
            attributes=resource_attributes,
        ),
        sampler_description=sampler.get_description(),
        traces_endpoint=(
            otlp_endpoint(endpoint, traces_protocol, "traces")
            if exporters_enabled(traces, "traces", default=unasked)
            else None
        ),
        traces_protocol=traces_protocol,
        metrics_endpoint=(
            otlp_endpoint(endpoint, metrics_protocol, "metrics")
            if exporters_enabled(metrics, "metrics", default=unasked)
            else None
        ),
        metrics_protocol=metrics_protocol,
        headers=tuple(sorted((headers or {}).items())),
        console=console,
        logs=logs or _log_format_from_env(),
        span_processors=tuple(span_processors),
        span_exporters=tuple(span_exporters),
        metric_readers=tuple(metric_readers),
        sampler=sampler,
    )
    if not set_global:
        return _build(setup, global_exit_hooks=False)

    global _installed, _installed_setup
    with _lock:
        if _installed is not None:
            return _reuse(_installed, _installed_setup, setup)
        existing = trace.get_tracer_provider()
        if isinstance(existing, TracerProvider):
            _installed = _adopt(existing)
            return _installed
        instrumentation = _build(setup, global_exit_hooks=True)
        trace.set_tracer_provider(instrumentation.tracer_provider)
        if instrumentation.meter_provider is not None:
            metrics_api.set_meter_provider(instrumentation.meter_provider)
        if not os.environ.get("OTEL_PROPAGATORS"):
            propagate.set_global_textmap(
                CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
            )
        install_log_record_factory()
        if setup.logs is not None:
            instrument_logging(setup.logs)
        instrumentation._install_exit_hooks()
        _installed, _installed_setup = instrumentation, setup
        return instrumentation


def _build(setup: _Setup, *, global_exit_hooks: bool) -> Instrumentation:
    # With global exit hooks the Instrumentation shuts the providers down itself, once.
    shutdown_on_exit = not global_exit_hooks
    headers = dict(setup.headers) or None
    meter_provider = _meter_provider(setup, headers, shutdown_on_exit=shutdown_on_exit)
    tracer_provider = TracerProvider(
        sampler=setup.sampler,
        resource=setup.resource,
        shutdown_on_exit=shutdown_on_exit,
    )
    # The batch processors and OTLP exporters record the SDK's own metrics (spans
    # dropped on a full queue, spans the exporter failed to deliver) in this service's
    # MeterProvider when OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED=true.
    if setup.traces_endpoint is not None:
        protocol, endpoint = setup.traces_protocol, setup.traces_endpoint
        tracer_provider.add_span_processor(
            BatchSpanProcessor(
                ProcessLocalSpanExporter(
                    lambda: otlp_span_exporter(protocol, endpoint, headers, meter_provider)
                ),
                meter_provider=meter_provider,
            )
        )
    for exporter in setup.span_exporters:
        tracer_provider.add_span_processor(
            BatchSpanProcessor(exporter, meter_provider=meter_provider)
        )
    for processor in setup.span_processors:
        tracer_provider.add_span_processor(processor)
    if setup.console:
        tracer_provider.add_span_processor(SimpleSpanProcessor(console_span_exporter()))
    return Instrumentation(tracer_provider, meter_provider, owned=True)


def _meter_provider(
    setup: _Setup, headers: dict[str, str] | None, *, shutdown_on_exit: bool
) -> MeterProvider | None:
    """The service's MeterProvider, or None when no reader would read it."""
    readers = list(setup.metric_readers)
    if setup.metrics_endpoint is not None:
        protocol, endpoint = setup.metrics_protocol, setup.metrics_endpoint
        readers.append(
            PeriodicExportingMetricReader(
                ProcessLocalMetricExporter(
                    lambda: otlp_metric_exporter(protocol, endpoint, headers)
                )
            )
        )
    if not readers:
        return None
    return MeterProvider(
        metric_readers=readers, resource=setup.resource, shutdown_on_exit=shutdown_on_exit
    )


def _reuse(installed: Instrumentation, previous: _Setup | None, setup: _Setup) -> Instrumentation:
    if previous is None:  # adopted someone else's provider: nothing to compare
        return installed
    if installed.is_shut_down:
        raise ConfigurationError(
            "configure() was already called and shut down in this process; OpenTelemetry "
            "lets the global providers be set only once, so it cannot be set up again"
        )
    differences = previous.differences(setup)
    if differences:
        raise ConfigurationError(
            "configure() was already called in this process with other options "
            f"({', '.join(differences)} differ); call it once, at startup, or pass "
            "set_global=False for a separate pipeline"
        )
    return installed


def _adopt(provider: TracerProvider) -> Instrumentation:
    if not getattr(provider, TESTING_PROVIDER_MARK, False):
        _logger.warning(
            "a global OpenTelemetry TracerProvider was installed before "
            "traceway.instrument.configure(); keeping it, so configure() adds no exporters"
        )
    meter_provider = metrics_api.get_meter_provider()
    return Instrumentation(
        provider,
        meter_provider if isinstance(meter_provider, MeterProvider) else None,
        owned=False,
    )


def _log_format_from_env() -> Literal["text", "json"] | None:
    value = os.environ.get("TRACEWAY_LOG_FORMAT", "").strip().lower()
    if not value:
        return None
    if value == "text":
        return "text"
    if value == "json":
        return "json"
    raise ConfigurationError(f"TRACEWAY_LOG_FORMAT={value!r} must be 'text' or 'json'")
