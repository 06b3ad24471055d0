"""The load generator: its schedule, its bound on requests outstanding, its summary."""

from __future__ import annotations

import asyncio
import math
import random
import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from traceway.cli import main
from traceway.commands.load import duration, progress_line
from traceway.demo.traffic import (
    LoadStats,
    LoadSummary,
    Outcome,
    UsersScenario,
    percentile,
    run_load,
)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]

    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([3.0], 0.9) == 3.0
    assert math.isnan(percentile([], 0.5))


def test_the_summary_counts_statuses_and_failures() -> None:
    clock = iter([0.0, 10.0])
    stats = LoadStats(clock=lambda: next(clock))
    for status, latency in [
        ("200", 0.010),
        ("200", 0.020),
        ("503", 0.030),
        ("ConnectError", 0.001),
    ]:
        stats.record(Outcome("GET /user/{id}", status, latency))

    summary = stats.summary()

    assert summary.requests == 4
    assert summary.statuses == {"200": 2, "503": 1, "ConnectError": 1}
    assert summary.failed == 2
    assert summary.latencies_s["p50"] == 0.010
    assert summary.latencies_s["max"] == 0.030
    assert summary.lines() == [
        "requests  4 in 10.0s (0.4/s)",
        "status    200: 2  503: 1  ConnectError: 1",
        "latency   p50 10.0ms  p90 30.0ms  p99 30.0ms  max 30.0ms",
    ]
    assert summary.one_line().startswith("4 requests in 10.0s (0.4/s): 200:2 503:1 ConnectError:1")


def test_an_empty_run_says_so() -> None:
    assert LoadSummary(0, 1.0, {}, {}).lines() == ["requests  0 in 1.0s (0.0/s)"]


def _gateway(gate: asyncio.Event | None = None) -> httpx.AsyncClient:
    async def user(request: Request) -> JSONResponse:
        if gate is not None:
            await gate.wait()
        if not request.path_params["id"].isdigit():
            return JSONResponse({}, status_code=400)
        return JSONResponse({"id": request.path_params["id"]})

    app = Starlette(routes=[Route("/user/{id}", user)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gateway")


async def test_a_run_sends_rate_times_duration_requests() -> None:
    stats = LoadStats()
    async with _gateway() as client:
        await run_load(client, UsersScenario(random.Random(3)), 40.0, stats, duration_s=0.25)

    assert stats.requests == 10
    assert stats.skipped == 0
    assert set(stats.statuses) <= {"200", "400", "404"}


async def test_requests_beyond_the_bound_are_skipped_not_queued() -> None:
    gate = asyncio.Event()
    stats = LoadStats()
    async with _gateway(gate) as client:
        load = asyncio.create_task(
            run_load(
                client, UsersScenario(random.Random(3)), 100.0, stats, duration_s=0.1,
                max_in_flight=2,
            )
        )  # fmt: skip
        while stats.skipped < 8:
            await asyncio.sleep(0.01)
        gate.set()
        await load

    assert (stats.requests, stats.skipped) == (2, 8)


async def test_a_stop_ends_an_endless_run() -> None:
    stop = asyncio.Event()
    stats = LoadStats()
    async with _gateway() as client:
        load = asyncio.create_task(
            run_load(client, UsersScenario(random.Random(3)), 50.0, stats, stop=stop)
        )
        while stats.requests < 3:
            await asyncio.sleep(0.01)
        stop.set()
        await load

    assert stats.requests >= 3


def test_durations_and_progress_read_as_people_write_them() -> None:
    assert [duration(d) for d in ("30s", "2m", "500ms", "1h", "5")] == [30, 120, 0.5, 3600, 5]
    stats = LoadStats()
    stats.record(Outcome("GET /user/{id}", "200", 0.01))

    line = progress_line(stats, 15.0, 30.0)

    assert line.startswith("[" + "#" * 12 + "." * 12 + "]")
    assert "1 requests  200: 1" in line


def test_load_says_so_when_nothing_answers(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]

    status = main(
        ["load", "--gateway", f"http://127.0.0.1:{closed}", "--rate", "20", "--duration", "0.2s"]
    )

    output = capsys.readouterr()
    assert status == 1
    assert output.out.startswith("requests  4 in ")
    assert "ConnectError: 4" in output.out
    assert f"is the gateway at http://127.0.0.1:{closed}?" in output.err
