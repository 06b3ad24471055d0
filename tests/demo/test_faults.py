"""Fault settings from flags and environment, and how a service draws them per request."""

from __future__ import annotations

import random

import pytest

from traceway.demo.faults import FaultError, FaultInjector, FaultPlan, Faults, Latency


def test_flags_set_error_rates_latency_and_down_services() -> None:
    plan = FaultPlan().with_specs(
        ["auth.error=0.2", "partner.error=30%", "order.latency=200ms±50ms"], down=["shipping"]
    )

    assert plan.of("auth") == Faults(error_rate=0.2)
    assert plan.of("partner").error_rate == pytest.approx(0.3)
    assert plan.of("order").latency == Latency(0.2, 0.05)
    assert plan.of("shipping").down
    assert not plan.of("user")


@pytest.mark.parametrize(
    ("text", "latency"),
    [
        ("200ms", Latency(0.2)),
        ("150", Latency(0.15)),
        ("1.5s", Latency(1.5)),
        ("200ms+-50ms", Latency(0.2, 0.05)),
        ("0.2s~10ms", Latency(0.2, 0.01)),
    ],
)
def test_latency_is_read_in_the_usual_spellings(text: str, latency: Latency) -> None:
    assert Latency.parse(text) == latency


def test_the_environment_gives_each_service_its_faults_and_round_trips() -> None:
    plan = FaultPlan().with_specs(["auth.error=0.25", "order.latency=200ms±50ms"], ["shipping"])

    environ = plan.environment()

    assert environ == {
        "TRACEWAY_FAULT_AUTH_ERROR_RATE": "0.25",
        "TRACEWAY_FAULT_ORDER_LATENCY": "200ms±50ms",
        "TRACEWAY_FAULT_SHIPPING_DOWN": "true",
    }
    assert FaultPlan.from_environment(environ) == plan


def test_flags_apply_over_the_environment() -> None:
    base = FaultPlan.from_environment(
        {"TRACEWAY_FAULT_AUTH_ERROR_RATE": "0.5", "TRACEWAY_FAULT_AUTH_LATENCY": "10ms"}
    )

    plan = base.with_specs(["auth.error=0.1"])

    assert plan.of("auth") == Faults(error_rate=0.1, latency=Latency(0.01))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("auth=0.2", "is not SERVICE.error=RATE"),
        ("billing.error=0.2", "unknown service 'billing'"),
        ("auth.error=2", "must be between 0 and 1"),
        ("auth.error=lots", "is not a probability"),
        ("auth.crash=1", "unknown kind 'crash'"),
        ("order.latency=soon", "is not a duration"),
    ],
)
def test_a_bad_fault_says_what_was_expected(spec: str, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        FaultPlan().with_specs([spec])


def test_a_bad_variable_is_named() -> None:
    with pytest.raises(FaultError, match="TRACEWAY_FAULT_PARTNER_ERROR_RATE"):
        FaultPlan.from_environment({"TRACEWAY_FAULT_PARTNER_ERROR_RATE": "half"})


def test_error_rates_are_drawn_per_request() -> None:
    never = FaultInjector("auth-service", Faults(), random.Random(1))
    always = FaultInjector("auth-service", Faults(error_rate=1.0), random.Random(1))
    some = FaultInjector("auth-service", Faults(error_rate=0.2), random.Random(1))

    failures = sum(some.draw().failure is not None for _ in range(1000))

    assert all(never.draw().failure is None for _ in range(100))
    assert always.draw().failure == "injected fault: auth-service fails 100% of requests"
    assert 150 < failures < 250


def test_latency_stays_within_its_jitter_and_never_goes_negative() -> None:
    injector = FaultInjector("order-service", Faults(latency=Latency(0.01, 0.05)), random.Random(7))

    delays = [injector.draw().delay_s for _ in range(500)]

    assert min(delays) == 0.0
    assert max(delays) <= 0.06
    assert len(set(delays)) > 100
