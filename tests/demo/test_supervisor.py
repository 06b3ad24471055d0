"""How the demo is laid out and configured, before any process starts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from traceway.cli import main
from traceway.demo import topology
from traceway.demo.banner import banner
from traceway.demo.faults import FaultPlan
from traceway.demo.supervisor import DemoConfig, DemoError, check_ports


def test_each_process_starts_after_the_processes_it_calls() -> None:
    waves = topology.start_order()

    started: set[str] = set()
    for wave in waves:
        for process in wave:
            assert set(process.calls) <= started, process.name
        started |= {process.name for process in wave}
    assert started == {process.name for process in topology.SERVICES}
    assert waves[-1] == [topology.GATEWAY]


def test_addresses_come_from_the_environment_or_the_defaults() -> None:
    environ = {"USER_SERVICE_ADDR": "user-service:6000"}

    assert topology.address_from(topology.USER, environ) == ("user-service", 6000)
    assert topology.target_of(topology.AUTH, environ) == "127.0.0.1:50052"
    with pytest.raises(ValueError, match="USER_SERVICE_ADDR='nowhere' is not HOST:PORT"):
        topology.address_from(topology.USER, {"USER_SERVICE_ADDR": "nowhere"})


def test_ports_follow_the_base_port_or_are_all_left_to_the_system() -> None:
    fixed = DemoConfig(data_dir=None, base_port=7000, gateway_port=9000)
    automatic = DemoConfig(data_dir=None, base_port=0, gateway_port=0)

    assert [fixed.port_of(p) for p in topology.SERVICES] == [9000, 7000, 7001, 7002, 7003, 7004]
    assert {automatic.port_of(p) for p in topology.SERVICES} == {0}


def test_a_taken_port_is_named_with_the_flag_that_moves_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = DemoConfig(
            data_dir=None, otlp_grpc_port=0, otlp_http_port=0, ui_port=port, base_port=0,
            gateway_port=0,
        )  # fmt: skip
        with pytest.raises(DemoError, match=rf"127.0.0.1:{port} for UI and API \(--ui-port\)"):
            check_ports(config)


def test_one_port_for_two_parts_is_refused() -> None:
    config = DemoConfig(data_dir=None, ui_port=0, otlp_grpc_port=0, otlp_http_port=0,
                        gateway_port=50052, base_port=50051)  # fmt: skip
    with pytest.raises(DemoError, match="port 50052 is given to both gateway"):
        check_ports(config)


def test_the_banner_says_where_everything_is_and_what_to_try() -> None:
    config = DemoConfig(data_dir=Path("/data"), faults=FaultPlan().with_specs([], ["shipping"]))
    addresses = {p.address_variable: f"127.0.0.1:{p.default_port}" for p in topology.SERVICES}
    ports = {"port": 16686, "otlp_grpc_port": 4317, "otlp_http_port": 4318}

    text = "\n".join(banner(config, ports, addresses))

    assert "UI          http://127.0.0.1:16686" in text
    assert "curl -i http://127.0.0.1:8080/user/1" in text
    assert '/login -d \'{"username": "alice", "password": "wonderland"}\'' in text
    assert "shipping-service  127.0.0.1:50054  gRPC, grpc.aio DOWN" in text
    assert "fault       shipping: down" in text


def test_bad_fault_flags_stop_the_demo_before_it_starts(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["demo", "--fault", "auth.error=2"])

    assert status == 2
    assert "must be between 0 and 1" in capsys.readouterr().err


def test_the_gateway_cannot_be_down(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--down", "gateway"]) == 2
    assert "the gateway cannot be down" in capsys.readouterr().err
