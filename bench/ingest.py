"""Ingest throughput of ``traceway serve`` over OTLP/HTTP, and the machine's two ceilings.

Pre-generates OTLP/HTTP protobuf exports (``_traffic``: traces of 5-10 spans across five
services, ~10 attributes per span, some errors, events on some spans; 512 spans per
request), starts ``traceway serve`` as a subprocess with a DuckDB file, and posts them
from several concurrent clients. Every export is acknowledged only after its spans
are committed, so an acknowledged span is durable. Reports:

- accepted spans/s (acknowledged) and end-to-end spans/s (until a sample of the sent
  traces reads back whole through the HTTP API), p50/p99 export latency;
- p50/p99 of trace-by-id API calls made while the exports go on (``--probe-api``);
- CPU per span and peak RSS of the server process and of its decode workers, and
  bytes per span of the DuckDB file once closed;
- the two ceilings for the same spans, each on its own: decoding the payloads
  (``decode_protobuf``) and writing the decoded spans with ``DuckDBStore.write_spans``
  in the pipeline's batch size (also split into the Python row building and the
  DuckDB insert) - and the end-to-end rate as a fraction of the lower one.

    .venv/bin/python bench/ingest.py [--spans 300000] [--clients 8] [--decode-workers N]
                                     [--profile out.txt]

``--profile`` records the server with py-spy (``pip install py-spy``) as collapsed
stacks. Timings on a shared machine are noisy: run it a few times.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _serve import Server, children, cpu_seconds, has_py_spy, peak_rss_bytes, start_server
from _traffic import TrafficGenerator

from traceway.model import Span
from traceway.pipeline.commit import DEFAULT_MAX_BATCH_SPANS
from traceway.receivers.otlp_decode import decode_protobuf
from traceway.receivers.otlp_encode import encode_protobuf
from traceway.storage.duckdb import DuckDBStore

GOAL_SPANS_PER_S = 100_000
GOAL_BYTES_PER_SPAN = 50
GOAL_PEAK_RSS = 1 << 30
START_NS = 1_750_000_000_000_000_000


@dataclass(frozen=True, slots=True)
class Payload:
    body: bytes
    spans: int
    trace_id: str  # of its first span, for the API probe


@dataclass(slots=True)
class ClientResults:
    latencies_s: list[float] = field(default_factory=list)
    acknowledged_spans: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)
    stored_trace_ids: list[str] = field(default_factory=list)


def build_payloads(
    span_count: int, per_request: int, seed: int
) -> tuple[list[Payload], dict[str, int]]:
    """Export bodies of ``span_count`` spans, and the span count of a sample of traces."""
    generator = TrafficGenerator(seed, START_NS, interval_ns=1_000_000)
    payloads: list[Payload] = []
    sample: dict[str, int] = {}
    pending: list[Span] = []
    sent = 0
    sampler = random.Random(seed)
    while sent < span_count:
        trace = generator.trace()
        if sampler.random() < 20 * 8 / span_count:  # about 20 traces
            sample[trace[0].trace_id] = len(trace)
        pending.extend(trace)
        while len(pending) >= per_request or (pending and sent + len(pending) >= span_count):
            chunk, pending = pending[:per_request], pending[per_request:]
            payloads.append(Payload(encode_protobuf(chunk), len(chunk), chunk[0].trace_id))
            sent += len(chunk)
    return payloads, sample


def _post(connection: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes, str | None]:
    connection.request(
        "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"}
    )
    response = connection.getresponse()
    return response.status, response.read(), response.getheader("Retry-After")


def run_client(
    port: int, work: Iterator[Payload], lock: threading.Lock, out: ClientResults
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while True:
        with lock:
            payload = next(work, None)
        if payload is None:
            break
        while True:
            began = time.perf_counter()
            status, body, retry_after = _post(connection, payload.body)
            if status == 200:
                out.latencies_s.append(time.perf_counter() - began)
                out.acknowledged_spans += payload.spans
                out.stored_trace_ids.append(payload.trace_id)
                break
            if status in (429, 503):
                out.retries += 1
                time.sleep(float(retry_after or 1))
                continue
            out.errors.append(f"HTTP {status}: {body[:200]!r}")
            break
    connection.close()


def probe_api(
    port: int, results: Sequence[ClientResults], done: threading.Event, out: list[float]
) -> None:
    """Until ``done``: fetch a stored trace by id every 20 ms, recording each latency."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    chooser = random.Random(1)
    while not done.wait(0.02):
        stored = [trace_id for result in results for trace_id in result.stored_trace_ids[-50:]]
        if not stored:
            continue
        began = time.perf_counter()
        connection.request("GET", f"/api/traces/{chooser.choice(stored)}")
        connection.getresponse().read()
        out.append(time.perf_counter() - began)
    connection.close()


def server_usage(server: Server) -> tuple[float, float, int]:
    """CPU seconds of the server process and of its children (decode workers), and
    the sum of their peak RSS."""
    workers = children(server.pid)
    return (
        cpu_seconds(server.pid),
        sum(cpu_seconds(pid) for pid in workers),
        peak_rss_bytes(server.pid) + sum(peak_rss_bytes(pid) for pid in workers),
    )


def wait_queryable(server: Server, sample: dict[str, int], timeout_s: float = 300) -> bool:
    """Poll the API until every sampled trace reads back with all its spans."""
    waiting = dict(sample)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    deadline = time.monotonic() + timeout_s
    while waiting and time.monotonic() < deadline:
        for trace_id, expected in list(waiting.items()):
            connection.request("GET", f"/api/traces/{trace_id}")
            response = connection.getresponse()
            body = response.read()
            if response.status == 200:
                data = json.loads(body)["data"]
                if data and len(data[0]["spans"]) == expected:
                    del waiting[trace_id]
        if waiting:
            time.sleep(0.05)
    connection.close()
    return not waiting


def start_profiler(pid: int, output: Path, gil_only: bool) -> subprocess.Popen[bytes] | None:
    if not has_py_spy():
        print("--profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
        return None
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [py_spy, "record", "-p", str(pid), "-o", str(output), "-f", "raw", "-r", "100",
         "--threads", *(["--gil", "--nonblocking"] if gil_only else ["--idle", "--native"])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Ceilings:
    decode_spans_per_s: float
    write_spans_per_s: float


def measure_ceilings(payloads: Sequence[Payload], directory: Path) -> Ceilings:
    """Decode alone, then write alone, in the pipeline's batch size, on one thread."""
    from traceway.storage.span_batch import join_spans  # here: older trees lack it

    decode_s = write_s = 0.0
    total = 0
    with DuckDBStore(directory / "ceiling.duckdb") as store:
        pending: list[Sequence[Span]] = []
        pending_spans = 0

        def flush() -> None:
            nonlocal write_s, pending_spans
            batch = join_spans(pending)
            began = time.perf_counter()
            store.write_spans(batch)
            write_s += time.perf_counter() - began
            pending.clear()
            pending_spans = 0

        for payload in payloads:
            began = time.perf_counter()
            decoded = decode_protobuf(payload.body)
            decode_s += time.perf_counter() - began
            total += len(decoded.spans)
            if pending_spans + len(decoded.spans) > DEFAULT_MAX_BATCH_SPANS:
                flush()
            pending.append(decoded.spans)
            pending_spans += len(decoded.spans)
        if pending:
            flush()
    return Ceilings(total / decode_s, total / write_s)


def disk_bytes(data_dir: Path) -> int:
    return sum(path.stat().st_size for path in data_dir.glob("traceway.duckdb*"))


def _latency_text(latencies: Sequence[float]) -> str:
    if len(latencies) < 2:
        return "not measured"
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return (
        f"p50 {quantiles[49] * 1e3:.0f} ms, p99 {quantiles[98] * 1e3:.0f} ms "
        f"({len(latencies)} calls)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=300_000, help="spans to send (300000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (8)")
    parser.add_argument("--spans-per-request", type=int, default=512)
    parser.add_argument("--seed", type=int, default=None, help="traffic seed (random)")
    parser.add_argument("--profile", type=Path, help="py-spy collapsed stacks of the server")
    parser.add_argument(
        "--profile-gil", action="store_true", help="profile only the thread holding the GIL"
    )
    parser.add_argument(
        "--decode-workers",
        type=int,
        default=None,
        help="passed to traceway serve --decode-workers (default: the server's default)",
    )
    parser.add_argument(
        "--no-probe-api",
        action="store_true",
        help="do not time trace-by-id API calls while exporting",
    )
    parser.add_argument("--skip-ceilings", action="store_true")
    parser.add_argument("--server-log", type=Path, help="where the server's output goes")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)

    print(f"generating {args.spans} spans in exports of {args.spans_per_request} ...", flush=True)
    payloads, sample = build_payloads(args.spans, args.spans_per_request, seed)
    span_count = sum(p.spans for p in payloads)
    otlp_bytes = sum(len(p.body) for p in payloads)

    with tempfile.TemporaryDirectory(prefix="traceway-ingest-") as tmp:
        directory = Path(tmp)
        log_path = args.server_log or directory / "serve.log"
        extra = (
            [] if args.decode_workers is None else ["--decode-workers", str(args.decode_workers)]
        )
        server = start_server(directory / "data", log_path, extra)
        profiler = (
            start_profiler(server.pid, args.profile, args.profile_gil) if args.profile else None
        )
        work = iter(payloads)
        lock = threading.Lock()
        results = [ClientResults() for _ in range(args.clients)]
        threads = [
            threading.Thread(target=run_client, args=(server.otlp_http_port, work, lock, out))
            for out in results
        ]
        print(
            f"sending with {args.clients} clients to traceway serve (pid {server.pid}) ...",
            flush=True,
        )
        api_latencies: list[float] = []
        sending = threading.Event()
        if not args.no_probe_api:
            threads.append(
                threading.Thread(
                    target=probe_api, args=(server.port, results, sending, api_latencies)
                )
            )
        main_cpu_before, workers_cpu_before, _ = server_usage(server)
        client_cpu_before = time.process_time()
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads[: args.clients]:
            thread.join()
        acknowledged_at = time.perf_counter()
        sending.set()
        main_cpu, workers_cpu, _ = server_usage(server)
        main_cpu -= main_cpu_before
        workers_cpu -= workers_cpu_before
        server_cpu = main_cpu + workers_cpu
        client_cpu = time.process_time() - client_cpu_before
        for thread in threads[args.clients :]:
            thread.join()
        queryable = wait_queryable(server, sample)
        queryable_at = time.perf_counter()
        _, _, peak_rss = server_usage(server)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            profiler.wait()
        server.stop()
        on_disk = disk_bytes(server.data_dir)
        ceilings = None if args.skip_ceilings else measure_ceilings(payloads, directory)

    latencies = sorted(latency for out in results for latency in out.latencies_s)
    retries = sum(out.retries for out in results)
    acknowledged = sum(out.acknowledged_spans for out in results)
    errors = [error for out in results for error in out.errors]
    accepted_rate = acknowledged / (acknowledged_at - began)
    end_to_end_rate = acknowledged / (queryable_at - began)
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")

    rows = [
        (
            "spans sent",
            f"{span_count} ({otlp_bytes / span_count:.0f} OTLP bytes/span), seed {seed}",
        ),
        ("acknowledged", f"{acknowledged}; retries {retries}; errors {len(errors)}"),
        ("accepted", f"{accepted_rate:,.0f} spans/s"),
        ("end to end", f"{end_to_end_rate:,.0f} spans/s   goal >= {GOAL_SPANS_PER_S:,}"),
        (
            "CPU per span",
            f"server {server_cpu / acknowledged * 1e6:.1f} us "
            f"(main {main_cpu / acknowledged * 1e6:.1f} + "
            f"decode workers {workers_cpu / acknowledged * 1e6:.1f}; "
            f"{server_cpu / (acknowledged_at - began):.2f} cores), "
            f"clients {client_cpu / acknowledged * 1e6:.1f} us",
        ),
        ("export latency", f"p50 {quantiles[49] * 1e3:.0f} ms, p99 {quantiles[98] * 1e3:.0f} ms"),
        ("API trace by id, meanwhile", _latency_text(api_latencies)),
        (
            "server peak RSS",
            f"{peak_rss / 2**20:.0f} MiB with its workers   goal < {GOAL_PEAK_RSS / 2**20:.0f} MiB",
        ),
        ("on disk", f"{on_disk / span_count:.1f} bytes/span   goal <= {GOAL_BYTES_PER_SPAN}"),
    ]
    if not queryable:
        rows.append(("WARNING", "the sampled traces did not all read back"))
    if ceilings is not None:
        lower = min(ceilings.decode_spans_per_s, ceilings.write_spans_per_s)
        rows += [
            ("ceiling: decode alone", f"{ceilings.decode_spans_per_s:,.0f} spans/s"),
            ("ceiling: write alone", f"{ceilings.write_spans_per_s:,.0f} spans/s"),
            ("end to end / lower ceiling", f"{end_to_end_rate / lower:.0%}"),
        ]
    rows += [("error", error) for error in errors[:5]]
    print()
    for name, value in rows:
        print(f"{name:28s} {value}")


if __name__ == "__main__":
    main()
