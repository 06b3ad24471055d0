"""Runs the whole demo: ``traceway serve``, every service, and a trickle of traffic.

Start: check every fixed port is free (a taken one is named before anything starts),
start the backend, then the services in waves (a service starts once those it calls
listen: with port 0 their addresses are known only then), then the traffic.

Stop (Ctrl-C, SIGTERM): stop the traffic and let its requests finish; SIGTERM the
gateway, then the other services, which flush their spans as they exit; then SIGTERM
the backend, which stores what it accepted. No span is lost on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from traceway.demo import runtime, topology
from traceway.demo.banner import banner, ready_document
from traceway.demo.children import Child, ChildFailed, OutputSink
from traceway.demo.faults import FaultPlan
from traceway.demo.topology import HOST, DemoProcess
from traceway.demo.traffic import SCENARIOS, LoadStats, run_load
from traceway.files import write_atomically

__all__ = ["DemoConfig", "DemoError", "Supervisor"]

STARTUP_TIMEOUT_S = 60.0
SERVICE_STOP_TIMEOUT_S = 15.0
BACKEND_STOP_TIMEOUT_S = 60.0
TRAFFIC_REPORT_INTERVAL_S = 30.0
SPAN_EXPORT_DELAY_MS = 500  # the SDK's default is 5 s: too long to wait for a first trace


class DemoError(RuntimeError):
    """The demo cannot start; the message says what to do."""


@dataclass(frozen=True)
class DemoConfig:
    """Everything ``traceway demo``'s flags decide."""

    data_dir: Path | None  # None: traces in memory only
    otlp_grpc_port: int = 4317
    otlp_http_port: int = 4318
    ui_port: int = 16686
    gateway_port: int = 8080
    base_port: int = 50051  # 0: every service on a port the system picks
    faults: FaultPlan = field(default_factory=FaultPlan)
    rate: float | None = 2.0  # None: no traffic
    scenario: str = "mixed"
    log_level: str = "warning"
    ready_file: Path | None = None

    def port_of(self, process: DemoProcess) -> int:
        """The port ``process`` is told to listen on (0: any)."""
        if process.port_offset is None:
            return self.gateway_port
        return self.base_port + process.port_offset if self.base_port else 0

    def fixed_ports(self) -> list[tuple[int, str]]:
        """Every non-zero port the demo will listen on, with the flag that sets it."""
        ports = [
            (self.otlp_grpc_port, "OTLP/gRPC (--otlp-grpc-port)"),
            (self.otlp_http_port, "OTLP/HTTP (--otlp-http-port)"),
            (self.ui_port, "UI and API (--ui-port)"),
        ]
        for process in topology.SERVICES:
            flag = "--gateway-port" if process.port_offset is None else "--base-port"
            ports.append((self.port_of(process), f"{process.service_name} ({flag})"))
        return [(port, what) for port, what in ports if port]


def check_ports(config: DemoConfig) -> None:
    """Raise DemoError naming the first fixed port that is taken or used twice."""
    seen: dict[int, str] = {}
    for port, what in config.fixed_ports():
        if port in seen:
            raise DemoError(f"port {port} is given to both {seen[port]} and {what}")
        seen[port] = what
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError as exc:
                raise DemoError(
                    f"cannot listen on {HOST}:{port} for {what}: {exc.strerror}; stop what "
                    "uses it, or choose another port with the flag named"
                ) from None


def _free_port() -> int:
    """A port nothing listens on, for a service that is down: its callers find it closed."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class _Running:
    backend: Child
    ports: dict[str, int]
    services: dict[str, Child] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)


class Supervisor:
    """Starts, watches and stops the demo's processes."""

    def __init__(self, config: DemoConfig, sink: OutputSink | None = None) -> None:
        self.config = config
        self.sink = sink if sink is not None else OutputSink()
        self._workdir = Path(tempfile.mkdtemp(prefix="traceway-demo-"))

    async def run(self, stop: asyncio.Event, force: asyncio.Event) -> int:
        """Run until ``stop`` is set (or the backend dies); the exit status."""
        check_ports(self.config)
        running: _Running | None = None
        traffic: asyncio.Task[None] | None = None
        traffic_stop = asyncio.Event()
        try:
            running = await self._start(stop)
            if stop.is_set():
                return 0
            self._announce(running)
            if self.config.rate is not None:
                traffic = asyncio.create_task(self._traffic(running, traffic_stop))
            return await self._watch(running, stop)
        except ChildFailed as exc:
            raise DemoError(str(exc)) from None
        finally:
            await self._stop(running, traffic, traffic_stop, force)
            with contextlib.suppress(OSError):
                for path in self._workdir.iterdir():
                    path.unlink()
                self._workdir.rmdir()

    def _environment(self, running: _Running, process: DemoProcess) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("TRACEWAY_FAULT_")}
        environ.update(self.config.faults.environment())
        environ.update(running.addresses)
        environ[process.address_variable] = f"{HOST}:{self.config.port_of(process)}"
        partner = running.addresses.get(topology.PARTNER.address_variable)
        if partner:
            environ[topology.PARTNER_URL_VARIABLE] = f"http://{partner}"
        environ.update(
            {
                "OTEL_SERVICE_NAME": process.service_name,
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{HOST}:{running.ports['otlp_grpc_port']}",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_METRICS_EXPORTER": "none",  # traceway serve stores traces only
                "PYTHONUNBUFFERED": "1",
                runtime.LOG_LEVEL_VARIABLE: self.config.log_level.upper(),
                runtime.SUPERVISED_VARIABLE: "1",
                runtime.READY_FILE_VARIABLE: str(self._workdir / f"{process.name}.json"),
            }
        )
        environ.setdefault("OTEL_BSP_SCHEDULE_DELAY", str(SPAN_EXPORT_DELAY_MS))
        return environ

    async def _start(self, stop: asyncio.Event) -> _Running:
        config = self.config
        where = ["--data-dir", str(config.data_dir)] if config.data_dir else ["--memory"]
        ready_file = self._workdir / "backend.json"
        command = [
            sys.executable, "-m", "traceway.cli", "serve", *where, "--host", HOST,
            "--otlp-grpc-port", str(config.otlp_grpc_port),
            "--otlp-http-port", str(config.otlp_http_port),
            "--port", str(config.ui_port), "--no-jaeger", "--no-zipkin",
            "--ready-file", str(ready_file),
        ]  # fmt: skip
        environ = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # The backend's banner would repeat the demo's: only its stderr is shown.
        backend = await Child.start(
            "traceway", command, environ, ready_file, self.sink, show_stdout=False
        )
        running = _Running(backend, {})
        try:
            running.ports = await backend.ready(STARTUP_TIMEOUT_S)
            for wave in topology.start_order():
                if stop.is_set():
                    return running
                await self._start_wave(running, wave)
        except BaseException:
            await self._stop(running, None, asyncio.Event(), asyncio.Event())
            raise
        return running

    async def _start_wave(self, running: _Running, wave: list[DemoProcess]) -> None:
        starting: list[tuple[DemoProcess, Child]] = []
        for process in wave:
            if self.config.faults.of(process.name).down:
                port = self.config.port_of(process) or _free_port()
                running.addresses[process.address_variable] = f"{HOST}:{port}"
                continue
            environ = self._environment(running, process)
            command = [sys.executable, "-m", process.module]
            ready_file = Path(environ[runtime.READY_FILE_VARIABLE])
            child = await Child.start(process.service_name, command, environ, ready_file, self.sink)
            running.services[process.name] = child
            starting.append((process, child))
        for process, child in starting:
            ready = await child.ready(STARTUP_TIMEOUT_S)
            running.addresses[process.address_variable] = str(ready["address"])

    async def _watch(self, running: _Running, stop: asyncio.Event) -> int:
        """Report services that exit on their own; end when asked or the backend dies."""
        stopping = asyncio.create_task(stop.wait())
        waits = {asyncio.create_task(child.wait()): child for child in running.services.values()}
        backend = asyncio.create_task(running.backend.wait())
        try:
            while True:
                done, _ = await asyncio.wait(
                    {stopping, backend, *waits}, return_when=asyncio.FIRST_COMPLETED
                )
                if stopping in done:
                    return 0
                if backend in done:
                    self.sink.say(
                        f"traceway demo: the backend exited (status {backend.result()}); "
                        "stopping the demo"
                    )
                    return 1
                for task in done:
                    child = waits.pop(task)
                    if not child.expected_exit:
                        self.sink.say(
                            f"traceway demo: {child.label} exited (status {task.result()}); "
                            "the rest of the demo keeps running"
                        )
        finally:
            for task in (stopping, backend, *waits):
                task.cancel()

    async def _traffic(self, running: _Running, stop: asyncio.Event) -> None:
        gateway = f"http://{running.addresses[topology.GATEWAY.address_variable]}"
        scenario = SCENARIOS[self.config.scenario](random.Random())  # noqa: S311
        rate = self.config.rate or 1.0
        async with httpx.AsyncClient(base_url=gateway, timeout=10.0) as client:
            while not stop.is_set():
                stats = LoadStats()
                await run_load(
                    client,
                    scenario,
                    rate,
                    stats,
                    duration_s=TRAFFIC_REPORT_INTERVAL_S,
                    stop=stop,
                    max_in_flight=16,
                )
                if stats.requests:
                    self.sink.line("traffic", stats.summary().one_line())

    async def _stop(
        self,
        running: _Running | None,
        traffic: asyncio.Task[None] | None,
        traffic_stop: asyncio.Event,
        force: asyncio.Event,
    ) -> None:
        traffic_stop.set()
        if traffic is not None:
            with contextlib.suppress(Exception):
                await traffic
        if running is None:
            return
        forcing = asyncio.create_task(self._kill_when(force, running))
        try:
            gateway = running.services.get(topology.GATEWAY.name)
            if gateway is not None:
                await gateway.stop(SERVICE_STOP_TIMEOUT_S)
            await asyncio.gather(
                *(child.stop(SERVICE_STOP_TIMEOUT_S) for child in running.services.values())
            )
            await running.backend.stop(BACKEND_STOP_TIMEOUT_S)
        finally:
            forcing.cancel()

    @staticmethod
    async def _kill_when(force: asyncio.Event, running: _Running) -> None:
        await force.wait()
        for child in [*running.services.values(), running.backend]:
            child.kill()

    def _announce(self, running: _Running) -> None:
        for line in banner(self.config, running.ports, running.addresses):
            self.sink.say(line)
        if self.config.ready_file is not None:
            document = ready_document(
                running.ports,
                running.addresses,
                {name: child.pid for name, child in running.services.items()},
                running.backend.pid,
            )
            write_atomically(self.config.ready_file, json.dumps(document, indent=2))
