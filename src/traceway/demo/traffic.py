"""Traffic against the gateway: scenarios, an open-loop load at a fixed rate, a summary.

Requests start on a fixed schedule (``rate`` per second) whether or not earlier ones
have answered, as real users do; at most ``max_in_flight`` are outstanding, and a
request that would exceed that is skipped and counted, not queued.

Scenarios (one HTTP request per step):

- ``users``: ``GET /user/{id}``, now and then for an id that does not exist or is invalid;
- ``orders``: ``POST /login`` as a demo user, then ``GET /orders`` and ``GET /orders/{id}``;
- ``mixed``: both, half and half.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from traceway.demo import seed

__all__ = [
    "SCENARIOS",
    "LoadStats",
    "LoadSummary",
    "MixedScenario",
    "OrdersScenario",
    "Outcome",
    "Scenario",
    "UsersScenario",
    "percentile",
    "run_load",
]

REQUEST_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Outcome:
    """One request: what it was, how it ended (an HTTP status or an error's name), how long."""

    endpoint: str
    status: str
    latency_s: float


class Scenario(Protocol):
    """What one simulated user does next: exactly one request per step."""

    async def step(self, client: httpx.AsyncClient) -> Outcome: ...


async def _request(
    client: httpx.AsyncClient,
    endpoint: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: dict[str, str] | None = None,
) -> tuple[Outcome, httpx.Response | None]:
    started = time.perf_counter()
    try:
        response = await client.request(method, path, headers=headers, json=body)
    except httpx.HTTPError as exc:
        return Outcome(endpoint, type(exc).__name__, time.perf_counter() - started), None
    return Outcome(endpoint, str(response.status_code), time.perf_counter() - started), response


class UsersScenario:
    """``GET /user/{id}``: mostly users that exist, 5% unknown ids, 3% malformed ones."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    async def step(self, client: httpx.AsyncClient) -> Outcome:
        draw = self._rng.random()
        if draw < 0.03:
            user_id = "not-a-number"
        elif draw < 0.08:
            user_id = str(len(seed.USERS) + self._rng.randint(1, 1000))
        else:
            user_id = str(self._rng.choice(seed.USERS).id)
        outcome, _ = await _request(client, "GET /user/{id}", "GET", f"/user/{user_id}")
        return outcome


class OrdersScenario:
    """Demo users who log in once, then list their orders and look at one of them."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._tokens: dict[str, str] = {}
        self._order_ids: dict[str, list[str]] = {}

    async def step(self, client: httpx.AsyncClient) -> Outcome:
        account = self._rng.choice(seed.ACCOUNTS)
        token = self._tokens.get(account.username)
        if token is None:
            return await self._login(client, account)
        headers = {"Authorization": f"Bearer {token}"}
        known = self._order_ids.get(account.username)
        if known and self._rng.random() < 0.6:
            order_id = self._rng.choice(known)
            outcome, _ = await _request(
                client, "GET /orders/{id}", "GET", f"/orders/{order_id}", headers=headers
            )
        else:
            outcome, response = await _request(
                client, "GET /orders", "GET", "/orders", headers=headers
            )
            if response is not None and response.status_code == 200:
                orders = response.json().get("orders", [])
                self._order_ids[account.username] = [str(order["id"]) for order in orders]
        if outcome.status == "401":
            self._tokens.pop(account.username, None)  # expired, or auth-service restarted
        return outcome

    async def _login(self, client: httpx.AsyncClient, account: seed.Account) -> Outcome:
        wrong = self._rng.random() < 0.05
        password = "guess" if wrong else account.password
        outcome, response = await _request(
            client,
            "POST /login",
            "POST",
            "/login",
            body={"username": account.username, "password": password},
        )
        if response is not None and response.status_code == 200:
            self._tokens[account.username] = str(response.json()["token"])
        return outcome


class MixedScenario:
    """Users and orders, half and half."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._users = UsersScenario(rng)
        self._orders = OrdersScenario(rng)

    async def step(self, client: httpx.AsyncClient) -> Outcome:
        scenario: Scenario = self._users if self._rng.random() < 0.5 else self._orders
        return await scenario.step(client)


SCENARIOS: dict[str, Callable[[random.Random], Scenario]] = {
    "users": UsersScenario,
    "orders": OrdersScenario,
    "mixed": MixedScenario,
}


def percentile(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile of values sorted ascending (``fraction`` 0.5 = median)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class LoadSummary:
    """What a load run did: counts by status, latency percentiles, achieved rate."""

    requests: int
    elapsed_s: float
    statuses: dict[str, int]
    latencies_s: dict[str, float]
    skipped: int = 0

    @property
    def rate(self) -> float:
        """Requests a second over the run; 0 if no time passed."""
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def failed(self) -> int:
        """Requests that got a 5xx or no answer at all."""
        return sum(
            n for status, n in self.statuses.items() if not status.isdigit() or status[0] == "5"
        )

    def one_line(self) -> str:
        """``141 requests in 28.1s (5.0/s): 200:133 404:4; p50 20.6ms p99 82.1ms``."""
        statuses = " ".join(f"{s}:{n}" for s, n in _ordered(self.statuses))
        text = f"{self.requests} requests in {self.elapsed_s:.1f}s ({self.rate:.1f}/s): {statuses}"
        if self.latencies_s:
            p50, p99 = self.latencies_s["p50"], self.latencies_s["p99"]
            text += f"; p50 {p50 * 1000:.1f}ms p99 {p99 * 1000:.1f}ms"
        return text

    def lines(self) -> list[str]:
        """The summary for people, one aspect per line."""
        lines = [f"requests  {self.requests} in {self.elapsed_s:.1f}s ({self.rate:.1f}/s)"]
        if self.statuses:
            lines.append("status    " + "  ".join(f"{s}: {n}" for s, n in _ordered(self.statuses)))
        if self.requests:
            lines.append(
                "latency   "
                + "  ".join(f"{k} {v * 1000:.1f}ms" for k, v in self.latencies_s.items())
            )
        if self.skipped:
            lines.append(f"skipped   {self.skipped} (too many requests outstanding)")
        return lines


def _ordered(statuses: dict[str, int]) -> list[tuple[str, int]]:
    # HTTP statuses in numeric order, then errors without a status by name.
    return sorted(statuses.items(), key=lambda item: (not item[0].isdigit(), item[0]))


@dataclass
class LoadStats:
    """Outcomes as they come, for progress and the summary."""

    clock: Callable[[], float] = time.monotonic
    statuses: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    skipped: int = 0
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def requests(self) -> int:
        return len(self.latencies_s)

    def record(self, outcome: Outcome) -> None:
        self.statuses[outcome.status] += 1
        self.latencies_s.append(outcome.latency_s)

    def summary(self) -> LoadSummary:
        ordered = sorted(self.latencies_s)
        latencies = (
            {
                "p50": percentile(ordered, 0.50),
                "p90": percentile(ordered, 0.90),
                "p99": percentile(ordered, 0.99),
                "max": ordered[-1],
            }
            if ordered
            else {}
        )
        return LoadSummary(
            requests=len(ordered),
            elapsed_s=self.clock() - self.started,
            statuses=dict(self.statuses),
            latencies_s=latencies,
            skipped=self.skipped,
        )


async def run_load(
    client: httpx.AsyncClient,
    scenario: Scenario,
    rate: float,
    stats: LoadStats,
    *,
    duration_s: float | None = None,
    stop: asyncio.Event | None = None,
    max_in_flight: int = 64,
) -> None:
    """Start ``rate`` steps a second until ``duration_s`` passes or ``stop`` is set, then
    wait for the requests still outstanding."""
    if rate <= 0:
        raise ValueError(f"rate {rate!r} must be more than 0 requests a second")
    stop = stop if stop is not None else asyncio.Event()
    in_flight: set[asyncio.Task[None]] = set()

    async def one() -> None:
        stats.record(await scenario.step(client))

    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = 0
    try:
        while not stop.is_set():
            offset = sent / rate
            if duration_s is not None and offset >= duration_s:
                break
            due = started + offset
            delay = due - loop.time()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    break
                except TimeoutError:
                    pass
            sent += 1
            if len(in_flight) >= max_in_flight:
                stats.skipped += 1
                continue
            task = asyncio.create_task(one())
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
    finally:
        if in_flight:
            _, late = await asyncio.wait(in_flight, timeout=REQUEST_TIMEOUT_S)
            for task in late:
                task.cancel()
