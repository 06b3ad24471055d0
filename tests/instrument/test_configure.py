"""configure() in a real process, exporting over OTLP to a real receiver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.instrument.otlp_receiver import OTLPReceiver

PROGRAM = Path(__file__).parent / "programs" / "traced_service.py"


def _env(receiver: OTLPReceiver, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_SERVICE_NAME="checkout",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        # No timed export: spans only arrive if they are flushed on the way out.
        OTEL_BSP_SCHEDULE_DELAY="60000",
        OTEL_METRIC_EXPORT_INTERVAL="60000",
    )
    env.update(extra)
    return env


def _run(mode: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PROGRAM), mode], env=env, capture_output=True, text=True, timeout=60
    )


def test_spans_arrive_with_the_service_resource_on_normal_exit(
    otlp_receiver: OTLPReceiver,
) -> None:
    result = _run("exit", _env(otlp_receiver))

    assert result.returncode == 0, result.stderr
    work = otlp_receiver.span("work")
    step = otlp_receiver.span("work step")
    assert step.parent_span_id == work.span_id
    assert step.trace_id == work.trace_id
    assert work.resource["service.name"] == "checkout"
    assert work.resource["service.version"] == "1.2.3"
    assert work.resource["deployment.environment.name"] == "test"
    assert work.resource["process.pid"] == work.attributes["pid"]
    assert "host.name" in work.resource


def _run_until_ready(mode: str, env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(PROGRAM), mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def test_sigterm_flushes_then_dies_of_sigterm(otlp_receiver: OTLPReceiver) -> None:
    process = _run_until_ready("sigterm", _env(otlp_receiver))

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)

    assert process.returncode == -signal.SIGTERM
    assert otlp_receiver.span("work").resource["service.name"] == "checkout"


def test_sigterm_flushes_before_the_applications_own_handler(
    otlp_receiver: OTLPReceiver,
) -> None:
    process = _run_until_ready("sigterm-chained", _env(otlp_receiver))

    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)

    assert process.returncode == 3
    assert "app handler ran" in out
    assert otlp_receiver.span("work step").trace_id == otlp_receiver.span("work").trace_id


def test_spans_of_a_forked_child_arrive_with_the_childs_pid(
    otlp_receiver: OTLPReceiver,
) -> None:
    result = _run("fork", _env(otlp_receiver))

    assert result.returncode == 0, result.stderr
    assert "child configure same handle True" in result.stdout
    child_pid = int(result.stdout.split("child pid ")[1].split()[0])
    child = otlp_receiver.span("child work")
    parent = otlp_receiver.span("parent after fork")
    assert child.attributes["pid"] == child_pid
    assert child.resource["process.pid"] == child_pid
    assert parent.resource["process.pid"] != child_pid
    assert child.resource["service.name"] == "checkout"


def test_spans_of_a_multiprocessing_child_arrive(otlp_receiver: OTLPReceiver) -> None:
    # multiprocessing children leave through os._exit(), skipping atexit.
    result = _run("multiprocessing", _env(otlp_receiver))

    assert result.returncode == 0, result.stderr
    child_pid = int(result.stdout.split("child pid ")[1].split()[0])
    assert otlp_receiver.span("mp child work").resource["process.pid"] == child_pid
    assert otlp_receiver.span("parent after fork").resource["process.pid"] != child_pid


def test_metrics_asked_for_are_exported_over_otlp_at_exit(otlp_receiver: OTLPReceiver) -> None:
    result = _run("metrics", _env(otlp_receiver, OTEL_METRICS_EXPORTER="otlp"))

    assert result.returncode == 0, result.stderr
    assert "rpc.server.duration" in otlp_receiver.metric_names()


def test_metrics_are_not_exported_unless_asked_for(otlp_receiver: OTLPReceiver) -> None:
    # traceway serve takes no metrics: exporting them by default logged a refusal.
    result = _run("metrics", _env(otlp_receiver))

    assert result.returncode == 0, result.stderr
    assert otlp_receiver.metric_names() == set()
    assert otlp_receiver.span("work")
    assert "metrics" not in result.stderr


def test_a_second_configure_returns_the_same_setup_or_names_what_differs(
    otlp_receiver: OTLPReceiver,
) -> None:
    result = _run("twice", _env(otlp_receiver))

    assert result.returncode == 0, result.stderr
    assert "same handle True" in result.stdout
    assert "refused:" in result.stdout
    assert "resource" in result.stdout.split("refused:")[1]
    assert "provider is global True" in result.stdout
    assert "Overriding" not in result.stderr
    # One exporter: each span arrives once.
    assert [s.name for s in otlp_receiver.spans()].count("work") == 1


def test_http_protobuf_protocol_sends_to_the_v1_traces_path(
    otlp_http_receiver: OTLPReceiver,
) -> None:
    env = _env(
        otlp_http_receiver,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_METRICS_EXPORTER="none",
    )
    result = _run("exit", env)

    assert result.returncode == 0, result.stderr
    assert otlp_http_receiver.span("work").resource["service.name"] == "checkout"


def test_headers_from_the_environment_reach_the_receiver(otlp_receiver: OTLPReceiver) -> None:
    result = _run("exit", _env(otlp_receiver, OTEL_EXPORTER_OTLP_HEADERS="x-api-key=s3cret"))

    assert result.returncode == 0, result.stderr
    assert otlp_receiver.headers[0]["x-api-key"] == "s3cret"


@pytest.mark.parametrize(
    ("sampler", "argument", "exported"),
    [("always_off", "", False), ("traceidratio", "0", False), ("parentbased_always_on", "", True)],
)
def test_sampler_from_the_environment(
    otlp_receiver: OTLPReceiver, sampler: str, argument: str, exported: bool
) -> None:
    env = _env(otlp_receiver, OTEL_TRACES_SAMPLER=sampler, OTEL_TRACES_SAMPLER_ARG=argument)
    result = _run("exit", env)

    assert result.returncode == 0, result.stderr
    assert bool(otlp_receiver.spans()) is exported


def test_a_provider_installed_earlier_is_kept_and_gets_no_exporter(
    otlp_receiver: OTLPReceiver,
) -> None:
    result = _run("foreign-provider", _env(otlp_receiver))

    assert result.returncode == 0, result.stderr
    assert "keeping it, so configure() adds no exporters" in result.stderr
    assert otlp_receiver.spans() == []
