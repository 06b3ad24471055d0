"""What configure() resolves before it builds anything: each option from its argument,
then the standard ``OTEL_*`` variable, then traceway's default.

Kept free of side effects so that every fallback can be tested without touching the
global OpenTelemetry providers.
"""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Mapping
from typing import Literal, TypeAlias

from opentelemetry.sdk.resources import (
    SERVICE_NAME,
    SERVICE_VERSION,
    OsResourceDetector,
    ProcessResourceDetector,
    Resource,
    ResourceDetector,
    get_aggregated_resources,
)
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)

__all__ = [
    "DEPLOYMENT_ENVIRONMENT_NAME",
    "ConfigurationError",
    "OTLPProtocol",
    "Signal",
    "build_resource",
    "build_sampler",
    "exporters_enabled",
    "otlp_endpoint",
    "otlp_protocol",
]

OTLPProtocol: TypeAlias = Literal["grpc", "http/protobuf"]
Signal: TypeAlias = Literal["traces", "metrics"]

# The current semantic-conventions name; `deployment.environment` is deprecated since 1.27
# and deliberately not written as well: traceway's backend reads the current name.
DEPLOYMENT_ENVIRONMENT_NAME = "deployment.environment.name"

DEFAULT_PROTOCOL: OTLPProtocol = "grpc"
_DEFAULT_ENDPOINTS: Mapping[OTLPProtocol, str] = {
    "grpc": "http://127.0.0.1:4317",
    "http/protobuf": "http://127.0.0.1:4318",
}
_DEFAULT_SAMPLE_RATE = 1.0


class ConfigurationError(ValueError):
    """An option (argument or environment variable) that configure() cannot use."""


def otlp_protocol(
    protocol: str | None, signal: Signal, environ: Mapping[str, str] = os.environ
) -> OTLPProtocol:
    """The argument, else ``OTEL_EXPORTER_OTLP[_{SIGNAL}]_PROTOCOL``, else grpc."""
    value = (
        protocol
        or environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or DEFAULT_PROTOCOL
    ).strip()
    if value == "grpc":
        return "grpc"
    if value == "http/protobuf":
        return "http/protobuf"
    raise ConfigurationError(
        f"OTLP protocol {value!r} is not supported: use 'grpc' or 'http/protobuf' "
        "(argument protocol= or OTEL_EXPORTER_OTLP_PROTOCOL)"
    )


def otlp_endpoint(
    endpoint: str | None,
    protocol: OTLPProtocol,
    signal: Signal,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """The URL the exporter of ``signal`` sends to.

    ``endpoint`` and ``OTEL_EXPORTER_OTLP_ENDPOINT`` are base URLs (for http/protobuf the
    signal's path ``/v1/traces`` or ``/v1/metrics`` is appended, as the OTLP exporter
    specification says); ``OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT`` is used as given.
    """
    if not endpoint:
        specific = environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
        if specific:
            return specific
    base = (
        endpoint or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    ) or _DEFAULT_ENDPOINTS[protocol]
    if protocol == "grpc":
        return base
    return f"{base.rstrip('/')}/v1/{signal}"


_DEFAULT_EXPORTERS: dict[Signal, str] = {"traces": "otlp", "metrics": "none"}
"""OpenTelemetry's default is ``otlp`` for both; traceway serve stores traces only, and
refused every metrics export with an error in the service's log, so metrics go out over
OTLP only when asked (to a Collector, say)."""


def exporters_enabled(
    enabled: bool | None,
    signal: Signal,
    environ: Mapping[str, str] = os.environ,
    *,
    default: str | None = None,
) -> bool:
    """The argument, else whether ``OTEL_{SIGNAL}_EXPORTER`` names ``otlp``; unset, it is
    ``default``, else ``_DEFAULT_EXPORTERS`` (for traces yes, for metrics no)."""
    if enabled is not None:
        return enabled
    unset = default if default is not None else _DEFAULT_EXPORTERS[signal]
    names = {
        name.strip().lower()
        for name in environ.get(f"OTEL_{signal.upper()}_EXPORTER", unset).split(",")
        if name.strip()
    }
    return "otlp" in names


def build_sampler(sample_rate: float | None, environ: Mapping[str, str] = os.environ) -> Sampler:
    """Parent-based ratio ``sample_rate``, else ``OTEL_TRACES_SAMPLER[_ARG]``, else ratio 1.0."""
    if sample_rate is not None:
        return ParentBasedTraceIdRatio(_ratio(sample_rate, "sample_rate"))
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if not name:
        return ParentBasedTraceIdRatio(_DEFAULT_SAMPLE_RATE)
    argument = environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    if name in ("traceidratio", "parentbased_traceidratio"):
        ratio = _DEFAULT_SAMPLE_RATE if not argument else _parse_ratio(argument)
        if name == "traceidratio":
            return TraceIdRatioBased(ratio)
        return ParentBasedTraceIdRatio(ratio)
    by_name: Mapping[str, Sampler] = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
    }
    if name in by_name:
        return by_name[name]
    known = ", ".join([*by_name, "traceidratio", "parentbased_traceidratio"])
    raise ConfigurationError(f"OTEL_TRACES_SAMPLER={name!r} is not one of: {known}")


def _parse_ratio(argument: str) -> float:
    try:
        value = float(argument)
    except ValueError:
        raise ConfigurationError(
            f"OTEL_TRACES_SAMPLER_ARG={argument!r} is not a number between 0 and 1"
        ) from None
    return _ratio(value, "OTEL_TRACES_SAMPLER_ARG")


def _ratio(value: float, source: str) -> float:
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"{source}={value!r} must be between 0 and 1")
    return value


class _HostResourceDetector(ResourceDetector):
    """``host.name`` and ``host.arch``; the SDK's own host detector is private."""

    def detect(self) -> Resource:
        return Resource({"host.name": socket.gethostname(), "host.arch": platform.machine()})


def build_resource(
    service_name: str | None = None,
    *,
    service_version: str | None = None,
    environment: str | None = None,
    attributes: Mapping[str, str | bool | int | float] | None = None,
) -> Resource:
    """The service's resource: arguments over ``OTEL_SERVICE_NAME``/``OTEL_RESOURCE_ATTRIBUTES``
    over host, OS and process detectors (the SDK's ``Resource.create`` gives that precedence).
    """
    explicit: dict[str, str | bool | int | float] = dict(attributes or {})
    if service_name:
        explicit[SERVICE_NAME] = service_name
    if service_version:
        explicit[SERVICE_VERSION] = service_version
    if environment:
        explicit[DEPLOYMENT_ENVIRONMENT_NAME] = environment
    detected = get_aggregated_resources(
        [ProcessResourceDetector(), OsResourceDetector(), _HostResourceDetector()],
        Resource.get_empty(),
    )
    return detected.merge(Resource.create(explicit))
