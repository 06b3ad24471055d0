"""Query latency of the DuckDB store at 1 M and 10 M spans, and of the HTTP API under ingest.

Builds (once, cached in ``bench/.cache/``) a store per size: the ``_traffic`` spans
spread over 24 hours, written with ``DuckDBStore.write_spans`` in the batches the
server commits (``DEFAULT_MAX_BATCH_SPANS``), so the file holds exactly what the
server would store. Then, the file's pages dropped from the OS cache first (reads
start from the disk, as after a reboot), times each query of the storage API,
repeated, and prints the median and the p99:

- services; operations of a service; trace by id (a different id each run);
- search by service + 1 h window, by service + operation + min duration, by one
  attribute (a rare and a common value), errors only (the three over 24 h);
- dependencies and per-operation p50/p95/p99 over 24 h.

Last, it starts ``traceway serve`` on a copy of the smallest store and fetches
traces by id through the HTTP API while ``bench/ingest.py``'s clients send at full
speed: the p99 says whether the API stays responsive under ingest. One read before the
clients start is timed apart: the first after a server starts pays for what it does once.

    .venv/bin/python bench/query.py [--sizes 1000000,10000000] [--runs 30]
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
from _serve import start_server
from _traffic import TrafficGenerator
from ingest import ClientResults, build_payloads, run_client

from traceway.pipeline.commit import DEFAULT_MAX_BATCH_SPANS
from traceway.storage.api import OperationQuery, StatsQuery, TraceQuery
from traceway.storage.duckdb import DuckDBStore
from traceway.storage.duckdb.schema import SCHEMA_VERSION
from traceway.storage.duckdb.store import BLOCK_SIZE

CACHE = Path(__file__).parent / ".cache"
DAY_NS = 86_400 * 10**9
HOUR_NS = 3_600 * 10**9
MS = 10**6
END_NS = 1_750_000_000 * 10**9  # the data's last day ends here
GENERATOR_VERSION = 1  # bump when _traffic changes what it generates

GOALS_MS = {
    "services": 10,
    "operations": 10,
    "trace by id": 20,
    "search: service + 1 h window": 50,
    "search: service + operation + min duration": 50,
    "search: attribute (rare value)": 200,
    "search: attribute (common value)": 200,
    "search: errors only": 50,
    "dependencies, 24 h": 1000,
    "operation percentiles, 24 h": 1000,
}


def store_path(size: int) -> Path:
    """The cached store: a new one for new generated spans, a new schema or a new block size."""
    name = f"query-{size}-v{GENERATOR_VERSION}-schema{SCHEMA_VERSION}-{BLOCK_SIZE // 1024}k"
    return CACHE / f"{name}.duckdb"


def build_store(size: int) -> Path:
    """The cached store of ``size`` spans over the day before ``END_NS``, built if missing."""
    path = store_path(size)
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    for stale in (partial, partial.with_suffix(".partial.wal")):
        stale.unlink(missing_ok=True)
    interval = DAY_NS * 8 // size  # about 8 spans per trace
    generator = TrafficGenerator(seed=size, start_ns=END_NS - DAY_NS, interval_ns=interval)
    began = time.perf_counter()
    written = 0
    with DuckDBStore(partial) as store:
        while written < size:
            spans = generator.spans(min(DEFAULT_MAX_BATCH_SPANS, size - written))
            store.write_spans(spans)
            written += len(spans)
            rate = written / (time.perf_counter() - began)
            print(f"\r  building {size:,} spans: {written:,} ({rate:,.0f}/s)", end="", flush=True)
    print()
    partial.rename(path)
    return path


@dataclass(frozen=True, slots=True)
class Timing:
    median_ms: float
    p99_ms: float


def timed(run: Callable[[int], object], runs: int) -> Timing:
    """Median and p99 (nearest rank) of ``runs`` calls after one warm-up call."""
    run(-1)
    samples = []
    for number in range(runs):
        began = time.perf_counter()
        run(number)
        samples.append((time.perf_counter() - began) * 1e3)
    samples.sort()
    return Timing(statistics.median(samples), samples[max(0, -(-99 * runs // 100) - 1)])


def sample_trace_ids(path: Path, count: int) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT DISTINCT trace_id FROM spans USING SAMPLE 20000 ROWS").fetchall()
    ids = [f"{trace_id:032x}" for (trace_id,) in rows]
    random.Random(1).shuffle(ids)
    return ids[:count]


def drop_from_os_cache(path: Path) -> None:
    """Have the OS forget the file's pages, so that reads start from the disk as after a
    reboot, not from whatever earlier runs left in memory (the VM keeps little)."""
    if hasattr(os, "posix_fadvise"):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def query_timings(path: Path, runs: int) -> dict[str, Timing]:
    trace_ids = sample_trace_ids(path, runs + 1)
    drop_from_os_cache(path)
    day = {"start_time_min_ns": END_NS - DAY_NS, "start_time_max_ns": END_NS}
    middle = END_NS - DAY_NS // 2
    searches = {
        "search: service + 1 h window": TraceQuery(
            service_name="order", start_time_min_ns=middle - HOUR_NS, start_time_max_ns=middle
        ),
        "search: service + operation + min duration": TraceQuery(
            service_name="order",
            operation_name="order.OrderService/GetOrder",
            duration_min_ns=20 * MS,
            **day,
        ),
        "search: attribute (rare value)": TraceQuery(tags={"enduser.id": "4242"}, **day),
        "search: attribute (common value)": TraceQuery(
            tags={"http.response.status_code": "503"}, **day
        ),
        "search: errors only": TraceQuery(errors_only=True, **day),
    }
    results: dict[str, Timing] = {}
    with DuckDBStore(path) as store:
        results["services"] = timed(lambda _: store.get_services(), runs)
        results["operations"] = timed(
            lambda _: store.get_operations(OperationQuery("gateway")), runs
        )
        results["trace by id"] = timed(lambda n: store.get_trace(trace_ids[n]), runs)
        for name, query in searches.items():
            results[name] = timed(lambda _, q=query: store.find_traces(q), runs)
        heavy_runs = max(3, runs // 5)
        results["dependencies, 24 h"] = timed(
            lambda _: store.get_dependencies(END_NS - DAY_NS, END_NS), heavy_runs
        )
        results["operation percentiles, 24 h"] = timed(
            lambda _: store.get_operation_stats(StatsQuery(END_NS - DAY_NS, END_NS)), heavy_runs
        )
    return results


def api_under_ingest(path: Path, ingest_spans: int, clients: int) -> tuple[Timing, float, float]:
    """p50/p99 of GET /api/traces/{id} while the ingest clients send; the ingest rate; and
    the first read, made before they start: it pays for what a server does once (its
    decode workers still importing, the store's first reads), not for the ingest."""
    trace_ids = sample_trace_ids(path, 2000)
    payloads, _ = build_payloads(ingest_spans, 512, seed=7)
    with tempfile.TemporaryDirectory(prefix="traceway-query-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        shutil.copy(path, data / "traceway.duckdb")
        server = start_server(data, Path(tmp) / "serve.log")
        try:
            work = iter(payloads)
            lock = threading.Lock()
            results = [ClientResults() for _ in range(clients)]
            threads = [
                threading.Thread(target=run_client, args=(server.otlp_http_port, work, lock, out))
                for out in results
            ]
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            started = time.perf_counter()
            connection.request("GET", f"/api/traces/{trace_ids[-1]}")
            connection.getresponse().read()
            first_ms = (time.perf_counter() - started) * 1e3
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            latencies: list[float] = []
            for trace_id in trace_ids[:-1]:
                if not any(thread.is_alive() for thread in threads):
                    break
                started = time.perf_counter()
                connection.request("GET", f"/api/traces/{trace_id}")
                response = connection.getresponse()
                response.read()
                latencies.append((time.perf_counter() - started) * 1e3)
                time.sleep(0.02)
            connection.close()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - began
        finally:
            server.stop()
    latencies.sort()
    rate = sum(out.acknowledged_spans for out in results) / elapsed
    p99 = latencies[max(0, -(-99 * len(latencies) // 100) - 1)]
    return Timing(statistics.median(latencies), p99), rate, first_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="store sizes in spans")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per query (30)")
    parser.add_argument("--ingest-spans", type=int, default=300_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--skip-api", action="store_true", help="skip the API-under-ingest part")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    table: dict[int, dict[str, Timing]] = {}
    for size in sizes:
        path = build_store(size)
        size_mb = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20
        print(f"{size:,} spans: {size_mb:,.0f} MiB on disk ({size_mb * 2**20 / size:.1f} B/span)")
        table[size] = query_timings(path, args.runs)

    print(f"\n{'query (ms: median / p99)':46s}" + "".join(f"{f'{s:,} spans':>22s}" for s in sizes)
          + f"{'goal (10 M)':>13s}")  # fmt: skip
    for name, goal in GOALS_MS.items():
        cells = "".join(
            f"{f'{table[s][name].median_ms:.1f} / {table[s][name].p99_ms:.1f}':>22s}" for s in sizes
        )
        print(f"{name:46s}{cells}{f'<= {goal}':>13s}")

    if not args.skip_api:
        timing, rate, first_ms = api_under_ingest(
            store_path(min(sizes)), args.ingest_spans, args.clients
        )
        print(
            f"\ntrace by id through the HTTP API during ingest ({rate:,.0f} spans/s, "
            f"{min(sizes):,}-span store): median {timing.median_ms:.1f} ms, "
            f"p99 {timing.p99_ms:.1f} ms (goal p99 < 200 ms); the first read after the "
            f"server started, before ingest: {first_ms:.1f} ms"
        )


if __name__ == "__main__":
    main()
