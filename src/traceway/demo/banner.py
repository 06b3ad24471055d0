"""What ``traceway demo`` tells people once it runs, and writes for programs (``--ready-file``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from traceway.demo import seed, topology

if TYPE_CHECKING:
    from traceway.demo.supervisor import DemoConfig

__all__ = ["banner", "ready_document"]


def _url(port: int) -> str:
    return f"http://{topology.HOST}:{port}"


def banner(config: DemoConfig, ports: Mapping[str, Any], addresses: Mapping[str, str]) -> list[str]:
    """The lines printed once everything listens."""
    ui = _url(int(ports["port"]))
    gateway = f"http://{addresses[topology.GATEWAY.address_variable]}"
    account = seed.ACCOUNTS[0]
    lines = [
        "",
        "traceway demo is running",
        f"  UI          {ui}",
        f"  API         {ui}/api/services (Jaeger-compatible)",
        f"  OTLP        {_url(int(ports['otlp_grpc_port']))} (gRPC), "
        f"{_url(int(ports['otlp_http_port']))} (HTTP)",
        f"  traces      {config.data_dir or 'in memory (lost on exit)'}",
        f"  gateway     {gateway}",
    ]
    for process in topology.SERVICES[1:]:
        address = addresses[process.address_variable]
        state = " DOWN" if config.faults.of(process.name).down else ""
        lines.append(f"  {process.service_name:<17} {address:<16} {process.description}{state}")
    for line in config.faults.describe():
        lines.append(f"  fault       {line}")
    if config.rate is None:
        lines.append("  traffic     none (--no-traffic)")
    else:
        lines.append(f"  traffic     {config.scenario}, {config.rate:g} requests/s (--rate)")
    login = f'{{"username": "{account.username}", "password": "{account.password}"}}'
    lines += [
        "",
        "Try:",
        f"  curl -i {gateway}/user/1",
        f"  curl -s -X POST {gateway}/login -d '{login}'",
        "then open the trace of a response: its X-Trace-Id header is the id in",
        f"  {ui}/trace/<X-Trace-Id>",
        "Press Ctrl-C to stop.",
        "",
    ]
    return lines


def ready_document(
    ports: Mapping[str, Any],
    addresses: Mapping[str, str],
    pids: Mapping[str, int],
    backend_pid: int,
) -> dict[str, Any]:
    """Where everything listens, as JSON for supervisors and tests."""
    services = {
        process.name: {
            "service_name": process.service_name,
            "address": addresses[process.address_variable],
            "pid": pids.get(process.name),
        }
        for process in topology.SERVICES
    }
    return {
        "gateway": f"http://{addresses[topology.GATEWAY.address_variable]}",
        "ui": _url(int(ports["port"])),
        "otlp_grpc_port": ports["otlp_grpc_port"],
        "otlp_http_port": ports["otlp_http_port"],
        "port": ports["port"],
        "backend_pid": backend_pid,
        "services": services,
    }
