"""The service map's layout: layers by callers, cycles drawn backwards, few crossings."""

from __future__ import annotations

from traceway.query.service_map import build_service_map
from traceway.storage.api import DependencyLink


def test_services_sit_one_layer_right_of_their_furthest_caller() -> None:
    service_map = build_service_map(
        [
            DependencyLink("gateway", "order", 10, 1, 5_000_000),
            DependencyLink("gateway", "user", 4),
            DependencyLink("order", "payment", 10, 5),
            DependencyLink("user", "payment", 2),
            DependencyLink("gateway", "payment", 1),
        ]
    )
    layers = {n.service_name: n.layer for n in service_map.nodes}
    assert layers == {"gateway": 0, "order": 1, "user": 1, "payment": 2}
    assert not any(edge.backwards for edge in service_map.edges)
    payment = next(n for n in service_map.nodes if n.service_name == "payment")
    assert (payment.calls_in, payment.errors_in) == (13, 5)
    order_edge = next(e for e in service_map.edges if e.child == "order")
    assert (order_edge.call_count, order_edge.error_rate, order_edge.p95_duration_ns) == (
        10,
        0.1,
        5_000_000,
    )
    assert (service_map.layers, service_map.widest_layer) == (3, 2)


def test_a_call_that_closes_a_cycle_is_drawn_backwards() -> None:
    service_map = build_service_map(
        [DependencyLink("a", "b", 1), DependencyLink("b", "c", 1), DependencyLink("c", "a", 1)]
    )
    backwards = [(e.parent, e.child) for e in service_map.edges if e.backwards]
    assert backwards == [("c", "a")]
    assert [n.service_name for n in service_map.nodes] == ["a", "b", "c"]


def test_services_in_a_layer_are_ordered_under_their_callers() -> None:
    service_map = build_service_map(
        [
            DependencyLink("a", "z-first", 1),
            DependencyLink("b", "a-second", 1),
        ]
    )
    positions = {n.service_name: (n.layer, n.position) for n in service_map.nodes}
    assert positions["a"] == (0, 0) and positions["b"] == (0, 1)
    # By name "a-second" would come first; under its caller it comes second.
    assert positions["z-first"] == (1, 0) and positions["a-second"] == (1, 1)


def test_self_calls_and_no_calls_draw_nothing() -> None:
    assert build_service_map([DependencyLink("a", "a", 3)]).nodes == ()
    assert build_service_map([]).layers == 0
