"""``traceway load``: traffic against the demo's gateway, with progress and a summary."""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
import sys
from typing import Any, TextIO

import httpx

from traceway.commands import options
from traceway.demo.traffic import SCENARIOS, LoadStats, run_load

__all__ = ["add_parser", "duration", "progress_line", "run"]

_BAR_WIDTH = 24


def duration(text: str) -> float:
    """Seconds from a bare number of seconds or a duration as ``options.duration`` reads
    them (``30s``, ``2m``, ``1h``, ``500ms``)."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = options.duration(value) / 1e9
        except argparse.ArgumentTypeError:
            seconds = 0.0
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 30s, 2m or 1h")
    return seconds


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    load = commands.add_parser(
        "load",
        help="send traffic to the demo's gateway and summarise what came back",
        description="Send requests to the demo's gateway at a fixed rate for a while, with a "
        "progress bar, then print requests, status codes and latency percentiles.",
    )
    load.add_argument(
        "--rate", type=options.rate(10_000), default=10.0, help="requests per second (10)"
    )
    load.add_argument("--duration", type=duration, default=30.0, help="how long: 30s, 2m (30s)")
    load.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default="mixed",
        help="users: GET /user/{id}; orders: login, then orders; mixed: both (mixed)",
    )
    load.add_argument(
        "--gateway", default="http://127.0.0.1:8080", help="the gateway (http://127.0.0.1:8080)"
    )
    load.add_argument(
        "--max-in-flight",
        type=int,
        default=64,
        help="requests outstanding at most; more are skipped and counted (64)",
    )
    load.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable run")


def progress_line(stats: LoadStats, elapsed_s: float, duration_s: float) -> str:
    """``[#####.....]  12s/30s  120 requests  200: 110  503: 10``."""
    done = min(1.0, elapsed_s / duration_s) if duration_s > 0 else 1.0
    filled = round(done * _BAR_WIDTH)
    bar = "#" * filled + "." * (_BAR_WIDTH - filled)
    statuses = "  ".join(f"{status}: {n}" for status, n in sorted(stats.statuses.items()))
    return f"[{bar}] {elapsed_s:3.0f}s/{duration_s:.0f}s  {stats.requests} requests  {statuses}"


async def _progress(stats: LoadStats, duration_s: float, stream: TextIO) -> None:
    while True:
        elapsed = stats.clock() - stats.started
        stream.write("\r" + progress_line(stats, elapsed, duration_s) + "\x1b[K")
        stream.flush()
        await asyncio.sleep(0.25)


async def _load(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    scenario = SCENARIOS[args.scenario](random.Random(args.seed))  # noqa: S311
    stats = LoadStats()
    progress = (
        asyncio.create_task(_progress(stats, args.duration, sys.stderr))
        if sys.stderr.isatty()
        else None
    )
    try:
        async with httpx.AsyncClient(base_url=args.gateway, timeout=10.0) as client:
            await run_load(
                client,
                scenario,
                args.rate,
                stats,
                duration_s=args.duration,
                stop=stop,
                max_in_flight=args.max_in_flight,
            )
    finally:
        if progress is not None:
            progress.cancel()
            elapsed = min(stats.clock() - stats.started, args.duration)
            sys.stderr.write("\r" + progress_line(stats, elapsed, args.duration) + "\n")
    summary = stats.summary()
    for line in summary.lines():
        print(line)
    if summary.requests and summary.failed == summary.requests:
        answered = [s for s in summary.statuses if s.isdigit()]
        if not answered:
            print(
                f"traceway load: no request got an answer; is the gateway at {args.gateway}? "
                "(start it with: traceway demo)",
                file=sys.stderr,
            )
            return 1
    return 0


def run(args: argparse.Namespace) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    if args.max_in_flight < 1:
        print("traceway load: --max-in-flight must be at least 1", file=sys.stderr)
        return 2
    return asyncio.run(_load(args))
