"""How configure() resolves its options: argument, then OTEL_* variable, then default."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision

from traceway.instrument import ConfigurationError, configure
from traceway.instrument._settings import (
    build_resource,
    build_sampler,
    exporters_enabled,
    otlp_endpoint,
    otlp_protocol,
)

SAMPLED_TRACE_ID = 0x00000000000000000000000000000001  # below any ratio's bound
UNSAMPLED_TRACE_ID = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF


def _samples(sampler_env: dict[str, str], trace_id: int) -> bool:
    sampler = build_sampler(None, sampler_env)
    result = sampler.should_sample(None, trace_id, "span")
    return result.decision is Decision.RECORD_AND_SAMPLE


def test_default_sampler_is_parent_based_ratio_one() -> None:
    sampler = build_sampler(None, {})
    assert sampler.get_description().startswith("ParentBased{root:TraceIdRatioBased{1.0}")
    assert _samples({}, UNSAMPLED_TRACE_ID)


@pytest.mark.parametrize(
    ("env", "sampled_low", "sampled_high"),
    [
        ({"OTEL_TRACES_SAMPLER": "always_off"}, False, False),
        ({"OTEL_TRACES_SAMPLER": "always_on"}, True, True),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"}, True, False),
        (
            {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"},
            False,
            False,
        ),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_off"}, False, False),
        ({"OTEL_TRACES_SAMPLER": "ParentBased_Always_On"}, True, True),
    ],
)
def test_sampler_from_environment(
    env: dict[str, str], sampled_low: bool, sampled_high: bool
) -> None:
    assert _samples(env, SAMPLED_TRACE_ID) is sampled_low
    assert _samples(env, UNSAMPLED_TRACE_ID) is sampled_high


def test_sample_rate_argument_wins_over_environment() -> None:
    sampler = build_sampler(0.0, {"OTEL_TRACES_SAMPLER": "always_on"})
    assert sampler.should_sample(None, SAMPLED_TRACE_ID, "x").decision is Decision.DROP


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_TRACES_SAMPLER": "sometimes"}, "sometimes"),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}, "half"),
        (
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
            "between 0 and 1",
        ),
    ],
)
def test_bad_sampler_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build_sampler(None, env)


def test_protocol_argument_then_signal_variable_then_general_then_grpc() -> None:
    assert otlp_protocol(None, "traces", {}) == "grpc"
    general = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    assert otlp_protocol(None, "traces", general) == "http/protobuf"
    specific = {**general, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"}
    assert otlp_protocol(None, "metrics", specific) == "grpc"
    assert otlp_protocol("grpc", "traces", general) == "grpc"
    with pytest.raises(ConfigurationError, match="http/json"):
        otlp_protocol("http/json", "traces", {})


def test_endpoints_default_to_loopback_and_get_signal_paths_over_http() -> None:
    assert otlp_endpoint(None, "grpc", "traces", {}) == "http://127.0.0.1:4317"
    assert otlp_endpoint(None, "http/protobuf", "traces", {}) == "http://127.0.0.1:4318/v1/traces"
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert (
        otlp_endpoint(None, "http/protobuf", "metrics", base) == "http://collector:4318/v1/metrics"
    )
    specific = {**base, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://other/custom"}
    assert otlp_endpoint(None, "http/protobuf", "traces", specific) == "http://other/custom"
    assert otlp_endpoint("http://arg:1", "grpc", "traces", specific) == "http://arg:1"


def test_exporters_follow_otel_exporter_variables() -> None:
    assert exporters_enabled(None, "traces", {})
    assert not exporters_enabled(None, "metrics", {})  # traceway serve takes no metrics
    assert exporters_enabled(None, "metrics", {"OTEL_METRICS_EXPORTER": "otlp"})
    assert exporters_enabled(True, "metrics", {})
    assert not exporters_enabled(None, "metrics", {"OTEL_METRICS_EXPORTER": "none"})
    assert exporters_enabled(None, "traces", {"OTEL_TRACES_EXPORTER": "console, otlp"})
    assert not exporters_enabled(False, "traces", {})


def test_resource_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES",
        "service.version=0.1,deployment.environment.name=staging,team=core",
    )
    from_env = build_resource()
    assert from_env.attributes["service.name"] == "from-env"
    assert from_env.attributes["service.version"] == "0.1"
    assert from_env.attributes["deployment.environment.name"] == "staging"
    assert from_env.attributes["team"] == "core"
    assert "process.pid" in from_env.attributes
    assert "host.name" in from_env.attributes
    assert "os.type" in from_env.attributes

    explicit = build_resource("users", service_version="2.0", environment="prod")
    assert explicit.attributes["service.name"] == "users"
    assert explicit.attributes["service.version"] == "2.0"
    assert explicit.attributes["deployment.environment.name"] == "prod"
    assert explicit.attributes["team"] == "core"


def test_a_local_pipeline_records_spans_and_metrics_without_touching_globals() -> None:
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    with configure(
        "local",
        traces=False,
        metrics=False,
        span_processors=[SimpleSpanProcessor(exporter)],
        metric_readers=[reader],
        set_global=False,
    ) as instrumentation:
        tracer = instrumentation.tracer_provider.get_tracer("t")
        with tracer.start_as_current_span("unit of work"):
            pass
        assert instrumentation.meter_provider is not None
        instrumentation.meter_provider.get_meter("m").create_counter("jobs").add(2)

        assert [s.name for s in exporter.get_finished_spans()] == ["unit of work"]
        assert exporter.get_finished_spans()[0].resource.attributes["service.name"] == "local"
        data = reader.get_metrics_data()
        assert data is not None
        names = [
            m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
        ]
        assert names == ["jobs"]
    assert instrumentation.is_shut_down
    instrumentation.shutdown()  # idempotent


def test_configure_without_readers_has_no_meter_provider() -> None:
    instrumentation = configure("quiet", traces=False, metrics=False, set_global=False)
    assert instrumentation.meter_provider is None
    instrumentation.shutdown()


def test_console_prints_one_line_per_span(capsys: pytest.CaptureFixture[str]) -> None:
    setup = configure("shop", traces=False, metrics=False, console=True, set_global=False)
    with setup, setup.tracer_provider.get_tracer("t").start_as_current_span("pay") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("[shop] pay ")
    assert f"trace_id={trace_id}" in line
    assert "status=UNSET" in line
