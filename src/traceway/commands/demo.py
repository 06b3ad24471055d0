"""``traceway demo``: the reference microservice system, traced end to end, in one command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from traceway.commands import options
from traceway.commands.serve import default_data_dir
from traceway.demo.faults import SERVICES, FaultError, FaultPlan
from traceway.demo.supervisor import DemoConfig, DemoError, Supervisor
from traceway.demo.traffic import SCENARIOS
from traceway.server import DATABASE_FILE
from traceway.storage.api import StorageError
from traceway.storage.duckdb.schema import MIGRATIONS, SCHEMA_VERSION, stored_schema_version

__all__ = ["add_parser", "config_from", "run"]

_EPILOG = f"""\
faults (also from each service's environment, as TRACEWAY_FAULT_<SERVICE>_ERROR_RATE,
_LATENCY and _DOWN; services: {", ".join(SERVICES)}):
  --fault auth.error=0.2            auth-service fails 20% of its requests (or auth.error=20%)
  --fault partner.error=0.3         the shipping partner answers 503 to 30% of requests
  --fault order.latency=200ms±50ms  order-service takes 150-250ms longer (or 200ms+-50ms)
  --down shipping                   shipping-service is not started: its callers fail

examples:
  traceway demo
  traceway demo --fault partner.error=0.3 --fault order.latency=200ms±50ms --rate 5
  traceway demo --memory --no-traffic --base-port 0 --gateway-port 0
"""


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    demo = commands.add_parser(
        "demo",
        help="run the demo system (gateway, gRPC services, traffic) traced into traceway serve",
        description="Run traceway serve, a gateway and user, auth, order and shipping "
        "services (each its own process, each traced), a stand-in for an external shipping "
        "partner, and a trickle of traffic; Ctrl-C stops it all without losing a span.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = demo.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"where the backend keeps the demo's traces (default: {default_data_dir() / 'demo'})",
    )
    where.add_argument("--memory", action="store_true", help="keep traces in memory only")
    faults = demo.add_argument_group("faults")
    faults.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SERVICE.KIND=VALUE",
        help="inject a fault: SERVICE.error=RATE or SERVICE.latency=DURATION[±JITTER]",
    )
    faults.add_argument(
        "--down", action="append", default=[], metavar="SERVICE", help="do not start SERVICE"
    )
    traffic = demo.add_argument_group("traffic")
    traffic.add_argument("--no-traffic", action="store_true", help="send no traffic")
    traffic.add_argument(
        "--rate",
        type=options.rate(1000),
        default=2.0,
        help="requests per second to the gateway (2)",
    )
    traffic.add_argument(
        "--scenario", choices=sorted(SCENARIOS), default="mixed", help="what traffic does (mixed)"
    )
    ports = demo.add_argument_group("ports", "Each may be 0: any free port (see --ready-file).")
    ports.add_argument("--ui-port", type=options.port, default=16686, help="UI and API (16686)")
    ports.add_argument("--otlp-grpc-port", type=options.port, default=4317, help="OTLP/gRPC (4317)")
    ports.add_argument("--otlp-http-port", type=options.port, default=4318, help="OTLP/HTTP (4318)")
    ports.add_argument("--gateway-port", type=options.port, default=8080, help="gateway (8080)")
    ports.add_argument(
        "--base-port",
        type=options.port,
        default=50051,
        help="user, auth, order, shipping services and partner on BASE..BASE+4 (50051)",
    )
    demo.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="warning",
        help="the services' log level (warning: injected faults and failures)",
    )
    demo.add_argument(
        "--ready-file",
        type=Path,
        default=None,
        help="once everything listens, write the addresses and process ids there as JSON",
    )


def config_from(args: argparse.Namespace) -> DemoConfig:
    """The demo the flags describe: faults from the environment, flags over them."""
    faults = FaultPlan.from_environment(os.environ).with_specs(args.fault, args.down)
    return DemoConfig(
        data_dir=None if args.memory else (args.data_dir or default_data_dir() / "demo"),
        otlp_grpc_port=args.otlp_grpc_port,
        otlp_http_port=args.otlp_http_port,
        ui_port=args.ui_port,
        gateway_port=args.gateway_port,
        base_port=args.base_port,
        faults=faults,
        rate=None if args.no_traffic else args.rate,
        scenario=args.scenario,
        log_level=args.log_level,
        ready_file=args.ready_file,
    )


def run(args: argparse.Namespace) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    try:
        config = config_from(args)
        if config.faults.of("gateway").down:
            raise FaultError("the gateway cannot be down: it is where requests come in")
    except FaultError as exc:
        print(f"traceway demo: {exc}", file=sys.stderr)
        return 2
    if config.data_dir is not None and (moved := _set_aside_older_store(config.data_dir)):
        print(
            "traceway demo: the demo's trace store was written by another traceway "
            f"version; moved it to {moved} and starting a new one"
        )
    try:
        return asyncio.run(_run(config))
    except DemoError as exc:
        print(f"traceway demo: {exc}", file=sys.stderr)
        return 1


def _set_aside_older_store(data_dir: Path) -> Path | None:
    """Rename a store of a schema version this traceway can neither read nor migrate
    out of the way, never deleting it.

    The demo's traces are its own generated traffic, so such a store should not stop
    the demo (``traceway serve`` refuses it, rightly, for real data).
    """
    path = data_dir / DATABASE_FILE
    try:
        found = stored_schema_version(path)
    except StorageError:
        return None  # in use or unreadable: traceway serve says which
    if found is None or found == str(SCHEMA_VERSION) or found in MIGRATIONS:
        return None
    aside = _unused_name(path.with_name(f"{path.name}.schema-{found}"))
    wal = path.with_name(f"{path.name}.wal")
    if wal.exists():
        wal.rename(aside.with_name(f"{aside.name}.wal"))
    path.rename(aside)
    return aside


def _unused_name(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3``, ...: the first with no file and no log."""
    candidate, number = path, 1
    while candidate.exists() or candidate.with_name(f"{candidate.name}.wal").exists():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


async def _run(config: DemoConfig) -> int:
    stop = asyncio.Event()
    force = asyncio.Event()
    supervisor = Supervisor(config)

    def on_signal() -> None:
        if stop.is_set():
            supervisor.sink.say(
                "traceway demo: stopping now, without waiting (spans not yet stored are lost)"
            )
            force.set()
            return
        supervisor.sink.say(
            "traceway demo: stopping (traffic, then services, then the backend) ..."
        )
        stop.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    status = await supervisor.run(stop, force)
    supervisor.sink.say("traceway demo: stopped")
    return status
