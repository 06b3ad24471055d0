"""Faults to inject, per service: an error probability, added latency with jitter, or down.

From flags (``traceway demo``)::

    --fault auth.error=0.2  --fault partner.error=30%  --fault order.latency=200ms±50ms
    --down shipping

or from each service's environment, as in a container deployment::

    TRACEWAY_FAULT_AUTH_ERROR_RATE=0.2
    TRACEWAY_FAULT_ORDER_LATENCY=200ms±50ms      (also 200ms+-50ms, 0.2s)
    TRACEWAY_FAULT_SHIPPING_DOWN=true

A service draws once per request: first the latency, then whether the request fails.
The failure is the service's own (a gRPC service aborts with UNAVAILABLE and a message
that says the fault was injected), so it shows in the trace on the span where it happened.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

__all__ = [
    "SERVICES",
    "Draw",
    "FaultError",
    "FaultInjector",
    "FaultPlan",
    "Faults",
    "Latency",
]

SERVICES = ("gateway", "user", "auth", "order", "shipping", "partner")
"""Services that take faults, by the short name flags and variables use."""

_PREFIX = "TRACEWAY_FAULT_"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")
_JITTER_SEPARATORS = ("±", "+-", "~")
_TRUE = frozenset(["1", "true", "yes", "on"])
_FALSE = frozenset(["", "0", "false", "no", "off"])


class FaultError(ValueError):
    """A fault setting that cannot be read; the message says what was expected."""


def _seconds(text: str, what: str) -> float:
    match = _DURATION.match(text)
    if match is None:
        raise FaultError(f"{what}: {text!r} is not a duration such as 200ms or 1.5s")
    value = float(match.group(1))
    return value / 1000 if match.group(2) in (None, "ms") else value


def _format_seconds(seconds: float) -> str:
    if seconds >= 1 and seconds == round(seconds, 1):
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"


@dataclass(frozen=True)
class Latency:
    """Added latency: ``base_s`` plus or minus up to ``jitter_s``, uniformly, never negative."""

    base_s: float
    jitter_s: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Latency:
        """``200ms``, ``200ms±50ms``, ``200ms+-50ms``, ``0.2s~0.05s``; a bare number is ms."""
        for separator in _JITTER_SEPARATORS:
            base, found, jitter = text.partition(separator)
            if found:
                return cls(_seconds(base, "latency"), _seconds(jitter, "latency jitter"))
        return cls(_seconds(text, "latency"))

    def sample(self, rng: random.Random) -> float:
        """One delay in seconds."""
        if not self.jitter_s:
            return self.base_s
        return max(0.0, self.base_s + rng.uniform(-self.jitter_s, self.jitter_s))

    def __str__(self) -> str:
        base = _format_seconds(self.base_s)
        return f"{base}±{_format_seconds(self.jitter_s)}" if self.jitter_s else base


def _rate(text: str) -> float:
    value = text.strip()
    try:
        rate = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise FaultError(f"error rate {text!r} is not a probability such as 0.2 or 20%") from None
    if not 0.0 <= rate <= 1.0:
        raise FaultError(f"error rate {text!r} must be between 0 and 1 (or 0% and 100%)")
    return rate


def _flag(text: str, variable: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise FaultError(f"{variable}={text!r} must be true or false")


@dataclass(frozen=True)
class Faults:
    """One service's faults; the default injects nothing."""

    error_rate: float = 0.0
    latency: Latency | None = None
    down: bool = False

    def __bool__(self) -> bool:
        return bool(self.error_rate or self.latency or self.down)

    def describe(self) -> str:
        """For people: ``fails 20% of requests, +200ms±50ms``."""
        parts = []
        if self.down:
            parts.append("down")
        if self.error_rate:
            parts.append(f"fails {self.error_rate:.0%} of requests")
        if self.latency is not None:
            parts.append(f"+{self.latency}")
        return ", ".join(parts) or "no faults"


def _check_service(service: str, source: str) -> str:
    name = service.strip().lower().removesuffix("-service")
    if name not in SERVICES:
        raise FaultError(f"{source}: unknown service {service!r}; one of {', '.join(SERVICES)}")
    return name


@dataclass(frozen=True)
class FaultPlan:
    """The faults of every service, by short name; absent means none."""

    by_service: Mapping[str, Faults] = field(default_factory=dict)

    def of(self, service: str) -> Faults:
        """The faults of ``service`` (a short name such as ``auth``)."""
        return self.by_service.get(service, Faults())

    def with_specs(self, specs: Iterable[str] = (), down: Iterable[str] = ()) -> FaultPlan:
        """This plan with ``SERVICE.error=RATE`` / ``SERVICE.latency=DURATION`` specs and
        ``down`` services applied over it."""
        plan = dict(self.by_service)
        for spec in specs:
            target, equals, value = spec.partition("=")
            service, dot, kind = target.partition(".")
            if not equals or not dot:
                raise FaultError(
                    f"fault {spec!r} is not SERVICE.error=RATE or SERVICE.latency=DURATION "
                    "(e.g. auth.error=0.2, order.latency=200ms±50ms)"
                )
            name = _check_service(service, f"fault {spec!r}")
            current = plan.get(name, Faults())
            kind = kind.strip().lower()
            if kind in ("error", "errors", "error_rate"):
                plan[name] = replace(current, error_rate=_rate(value))
            elif kind == "latency":
                plan[name] = replace(current, latency=Latency.parse(value))
            else:
                raise FaultError(f"fault {spec!r}: unknown kind {kind!r}; use error or latency")
        for service in down:
            name = _check_service(service, f"--down {service!r}")
            plan[name] = replace(plan.get(name, Faults()), down=True)
        return FaultPlan(plan)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> FaultPlan:
        """The ``TRACEWAY_FAULT_<SERVICE>_{ERROR_RATE,LATENCY,DOWN}`` variables."""
        plan: dict[str, Faults] = {}
        for service in SERVICES:
            stem = f"{_PREFIX}{service.upper()}_"
            faults = Faults()
            rate = environ.get(stem + "ERROR_RATE", "").strip()
            if rate:
                try:
                    faults = replace(faults, error_rate=_rate(rate))
                except FaultError as exc:
                    raise FaultError(f"{stem}ERROR_RATE: {exc}") from None
            latency = environ.get(stem + "LATENCY", "").strip()
            if latency:
                try:
                    faults = replace(faults, latency=Latency.parse(latency))
                except FaultError as exc:
                    raise FaultError(f"{stem}LATENCY: {exc}") from None
            down = environ.get(stem + "DOWN")
            if down is not None:
                faults = replace(faults, down=_flag(down, stem + "DOWN"))
            if faults:
                plan[service] = faults
        return cls(plan)

    def environment(self) -> dict[str, str]:
        """The variables that give each service its faults (the inverse of from_environment)."""
        variables: dict[str, str] = {}
        for service, faults in sorted(self.by_service.items()):
            stem = f"{_PREFIX}{service.upper()}_"
            if faults.error_rate:
                variables[stem + "ERROR_RATE"] = repr(faults.error_rate)
            if faults.latency is not None:
                variables[stem + "LATENCY"] = str(faults.latency)
            if faults.down:
                variables[stem + "DOWN"] = "true"
        return variables

    def describe(self) -> list[str]:
        """One line per service with faults."""
        return [
            f"{service}: {faults.describe()}"
            for service, faults in sorted(self.by_service.items())
            if faults
        ]


@dataclass(frozen=True)
class Draw:
    """What happens to one request: a delay, then possibly an injected failure."""

    delay_s: float
    failure: str | None


class FaultInjector:
    """One service's faults, drawn per request from its own random stream."""

    def __init__(self, service: str, faults: Faults, rng: random.Random | None = None) -> None:
        self.service = service
        self.faults = faults
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 (not crypto)

    def draw(self) -> Draw:
        """Draw the next request's latency and failure."""
        faults = self.faults
        delay = faults.latency.sample(self._rng) if faults.latency is not None else 0.0
        fails = faults.error_rate > 0 and self._rng.random() < faults.error_rate
        failure = (
            f"injected fault: {self.service} fails {faults.error_rate:.0%} of requests"
            if fails
            else None
        )
        return Draw(delay, failure)

    def apply(
        self, logger: logging.Logger, cap_s: float | None = None, where: str = ""
    ) -> str | None:
        """Draw, sleep the delay (at most ``cap_s``), log a failure and return it."""
        draw = self.draw()
        if draw.delay_s:
            time.sleep(_capped(draw.delay_s, cap_s))
        return _logged(logger, draw.failure, where)

    async def apply_async(
        self, logger: logging.Logger, cap_s: float | None = None, where: str = ""
    ) -> str | None:
        """``apply`` for asyncio: the delay does not block the event loop."""
        draw = self.draw()
        if draw.delay_s:
            await asyncio.sleep(_capped(draw.delay_s, cap_s))
        return _logged(logger, draw.failure, where)


def _capped(delay_s: float, cap_s: float | None) -> float:
    return delay_s if cap_s is None else max(0.0, min(delay_s, cap_s))


def _logged(logger: logging.Logger, failure: str | None, where: str) -> str | None:
    if failure is not None:
        if where:
            logger.warning("%s (%s)", failure, where)
        else:
            logger.warning("%s", failure)
    return failure
