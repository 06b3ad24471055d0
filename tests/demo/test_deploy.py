"""deploy/: the compose files and the collector's configuration agree with each other and
with the demo's own wiring (it cannot run here: no container runtime)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from traceway.demo import topology

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
BACKENDS = {"docker-compose.yml": "jaeger", "docker-compose.traceway.yml": "traceway"}
COLLECTOR = "otel-collector"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / name).read_text())
    return document


def project(name: str) -> dict[str, Any]:
    """A compose file with its ``include``s merged in, as compose does."""
    document = load(name)
    for included in document.pop("include", []):
        other = load(included)
        for section in ("services", "networks", "volumes"):
            overlap = set(document.get(section, {})) & set(other.get(section, {}))
            assert not overlap, f"{included} redefines {section} {overlap}"
            document.setdefault(section, {}).update(other.get(section) or {})
    return document


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in (service.get("environment") or {}).items()}


@pytest.fixture(params=sorted(BACKENDS))
def compose(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return BACKENDS[request.param], project(request.param)


def test_every_demo_process_runs_with_its_module_and_addresses(
    compose: tuple[str, dict[str, Any]],
) -> None:
    _, document = compose
    services = document["services"]
    hosts = {p.name: p.service_name if p.traced else "partner" for p in topology.SERVICES}
    for process in topology.SERVICES:
        service = services[hosts[process.name]]
        env = environment(service)
        assert service["command"] == ["python", "-m", process.module]
        port = 8080 if process is topology.GATEWAY else process.default_port
        assert env[process.address_variable] == f"0.0.0.0:{port}", process.name
        for callee_name in process.calls:
            callee = topology.by_name(callee_name)
            if callee is topology.PARTNER:
                assert env["PARTNER_URL"] == f"http://partner:{callee.default_port}"
            else:
                target = f"{hosts[callee_name]}:{callee.default_port}"
                assert env[callee.address_variable] == target, process.name
            assert hosts[callee_name] in service.get("depends_on", []), process.name


def test_every_traced_service_sends_to_the_collector_and_the_partner_stays_outside(
    compose: tuple[str, dict[str, Any]],
) -> None:
    _, document = compose
    services = document["services"]
    traced = {p.service_name for p in topology.SERVICES if p.traced}
    for name, service in services.items():
        env = environment(service)
        if name in traced:
            assert env["OTEL_SERVICE_NAME"] == name
            assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://{COLLECTOR}:4317", name
            assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
            assert "private" in service["networks"]
    partner = services["partner"]
    assert not any(key.startswith("OTEL_") for key in environment(partner))
    assert partner["networks"] == ["internet"]
    assert set(services["shipping-service"]["networks"]) == {"private", "internet"}
    assert set(document["networks"]) == {"private", "internet"}
    assert "8080:8080" in services["gateway"]["ports"]


def test_the_collector_exports_to_the_backend_which_serves_the_ui(
    compose: tuple[str, dict[str, Any]],
) -> None:
    backend, document = compose
    services = document["services"]
    collector = services[COLLECTOR]
    assert collector["image"].startswith("otel/opentelemetry-collector:")
    assert "./otel-collector.yaml:/etc/otelcol/config.yaml:ro" in collector["volumes"]
    assert environment(collector)["TRACE_BACKEND_ENDPOINT"] == f"{backend}:4317"
    assert backend in collector["depends_on"]
    assert "16686:16686" in services[backend]["ports"]
    assert "private" in services[backend]["networks"]
    for service in services.values():
        for dependency in service.get("depends_on", []):
            assert dependency in services


def test_the_collector_configuration_is_consistent() -> None:
    config = load("otel-collector.yaml")
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces"}
    for pipeline in pipelines.values():
        assert set(pipeline["receivers"]) <= set(config["receivers"])
        assert set(pipeline.get("processors", [])) <= set(config.get("processors") or {})
        assert set(pipeline["exporters"]) <= set(config["exporters"])
    # Every defined component is used: the collector refuses none, but an unused one is a
    # sign the pipeline is not what was meant.
    used = {name for p in pipelines.values() for kind in p.values() for name in kind}
    defined = {name for kind in ("receivers", "processors", "exporters") for name in config[kind]}
    assert used == defined
    backend = config["exporters"]["otlp_grpc/backend"]
    assert backend["endpoint"] == "${env:TRACE_BACKEND_ENDPOINT}"
    assert backend["tls"]["insecure"] is True


def test_the_image_is_built_from_the_repository() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    services = load("services.yml")
    build = services["x-demo-service"]["build"]

    assert build == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert "pip install --no-cache-dir ." in dockerfile
    assert (DEPLOY / build["context"] / "protos" / "user.proto").exists()
