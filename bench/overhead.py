"""Microseconds the gRPC interceptors add to a unary call, client and server together.

Each configuration gets its own real sync gRPC server on 127.0.0.1, in its own process as
in production (so client and server do not share a GIL); this process is the client and
times unary calls in interleaved rounds, so drift hits every configuration alike:

- no tracing;
- traceway's interceptors, sampled and not, with and without the duration histograms;
- opentelemetry-instrumentation-grpc's interceptors (spans only; it has no metrics),
  sampled and not, when that package is installed.

Spans go through a BatchSpanProcessor to an exporter that drops them, so the figures are
the cost on the calling and serving threads, not the cost of exporting.

    .venv/bin/python bench/overhead.py [--calls 5000] [--rounds 25]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Literal

import grpc
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

from traceway.instrument.grpc import client_interceptor, server_interceptor

METHOD = "/bench.Echo/Unary"
OFFICIAL = "opentelemetry-instrumentation-grpc"
Side = Literal["client", "server"]


class DroppingExporter(SpanExporter):
    """Drops spans."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def official_installed() -> bool:
    try:
        import opentelemetry.instrumentation.grpc  # noqa: F401
    except ImportError:
        return False
    return True


def config_names() -> list[str]:
    names = ["no tracing"]
    for sampling in ("sampled", "not sampled"):
        names.append(f"traceway, {sampling}, spans + metrics")
        names.append(f"traceway, {sampling}, spans only")
    if official_installed():
        names += [f"{OFFICIAL}, sampled, spans", f"{OFFICIAL}, not sampled, spans"]
    return names


def interceptors(name: str, side: Side) -> list[Any]:
    """The interceptors of configuration `name` for one side, with their own providers."""
    if name == "no tracing":
        return []
    tracer_provider = TracerProvider(sampler=ALWAYS_OFF if "not sampled" in name else ALWAYS_ON)
    tracer_provider.add_span_processor(BatchSpanProcessor(DroppingExporter(), max_queue_size=65536))
    if name.startswith(OFFICIAL):
        from opentelemetry.instrumentation import grpc as official

        if side == "client":
            return [official.client_interceptor(tracer_provider=tracer_provider)]
        return [official.server_interceptor(tracer_provider=tracer_provider)]
    options: dict[str, Any] = {
        "tracer_provider": tracer_provider,
        "meter_provider": MeterProvider(metric_readers=[InMemoryMetricReader()])
        if "metrics" in name
        else NoOpMeterProvider(),
    }
    if side == "client":
        return [client_interceptor(target="127.0.0.1", **options)]
    return [server_interceptor(**options)]


def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
    return request


def serve(name: str, connection: Connection) -> None:
    """Server process: serve the echo method until told to stop."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), interceptors=interceptors(name, "server")
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "bench.Echo", {"Unary": grpc.unary_unary_rpc_method_handler(echo)}
            )
        ]
    )
    connection.send(server.add_insecure_port("127.0.0.1:0"))
    server.start()
    connection.recv()
    server.stop(None)


@dataclass
class Config:
    """One configuration: its server process, its client callable and its samples."""

    name: str
    process: multiprocessing.process.BaseProcess
    connection: Connection
    call: Callable[..., bytes]
    samples_ns: list[int] = field(default_factory=list)
    round_medians_ns: list[float] = field(default_factory=list)

    def run(self, calls: int, metadata: tuple[tuple[str, str], ...]) -> None:
        call, clock = self.call, time.perf_counter_ns
        samples: list[int] = []
        for _ in range(calls):
            started = clock()
            call(b"ping", metadata=metadata)
            samples.append(clock() - started)
        self.samples_ns.extend(samples)
        self.round_medians_ns.append(statistics.median(samples))

    def stop(self) -> None:
        self.connection.send("stop")
        self.process.join(timeout=10)


def start(name: str) -> Config:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=serve, args=(name, theirs), daemon=True)
    process.start()
    port = ours.recv()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    client_side = interceptors(name, "client")
    if name.startswith(OFFICIAL):
        from opentelemetry.instrumentation.grpc import grpcext

        # Its client interceptor is not a grpc one and needs its own intercept_channel.
        channel = grpcext.intercept_channel(channel, *client_side)
    elif client_side:
        channel = grpc.intercept_channel(channel, *client_side)
    return Config(name, process, ours, channel.unary_unary(METHOD))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls per configuration")
    parser.add_argument("--rounds", type=int, default=25, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=500, help="untimed calls first")
    args = parser.parse_args()
    if not official_installed():
        print(f"{OFFICIAL} is not installed: nothing to compare with.")

    metadata = (("x-user-id", "u-1"),)
    runs = [start(name) for name in config_names()]
    try:
        for config in runs:
            config.run(args.warmup, metadata)
            config.samples_ns.clear()
            config.round_medians_ns.clear()
        per_round = max(1, args.calls // args.rounds)
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}", end="\r", flush=True)
            for config in runs if round_number % 2 == 0 else reversed(runs):
                gc.collect()
                config.run(per_round, metadata)
    finally:
        for config in runs:
            config.stop()

    baseline = runs[0]
    print(f"{per_round * args.rounds} unary calls per configuration; sync client and server")
    print("in separate processes on 127.0.0.1")
    print(f"{'configuration':<52}{'median µs':>10}{'mean µs':>9}{'added µs':>10}")
    for config in runs:
        median = statistics.median(config.samples_ns) / 1000
        mean = statistics.fmean(config.samples_ns) / 1000
        # Paired by round, so drift over the run cancels out.
        added = statistics.median(
            mine - base
            for mine, base in zip(config.round_medians_ns, baseline.round_medians_ns, strict=True)
        )
        shown = "" if config is baseline else f"{added / 1000:+.1f}"
        print(f"{config.name:<52}{median:>10.1f}{mean:>9.1f}{shown:>10}")
    print("added = median over rounds of (round median - no-tracing round median)")


if __name__ == "__main__":
    main()
