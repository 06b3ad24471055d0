"""The service map: services as nodes, calls as edges, laid out in layers left to right.

Built on demand from ``DependencyLink``s of a time window (no batch job). The layout
is a small layered drawing: each service sits one layer right of its furthest
caller (calls that close a cycle are drawn backwards and do not count), and the
services of a layer are ordered by the mean position of their callers so that
edges cross little.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from traceway.storage.api import DependencyLink

__all__ = ["MapEdge", "MapNode", "ServiceMap", "build_service_map"]

_ORDERING_SWEEPS = 4


@dataclass(frozen=True, slots=True)
class MapNode:
    """A service, its place in the layout and the calls it received in the window."""

    service_name: str
    layer: int
    position: int
    """Index within the layer, top to bottom."""
    calls_in: int
    errors_in: int


@dataclass(frozen=True, slots=True)
class MapEdge:
    """Calls from one service to another."""

    parent: str
    child: str
    call_count: int
    error_count: int
    p95_duration_ns: int
    backwards: bool
    """True when the edge closes a cycle and so points right to left."""

    @property
    def error_rate(self) -> float:
        return self.error_count / self.call_count if self.call_count else 0.0


@dataclass(frozen=True, slots=True)
class ServiceMap:
    nodes: tuple[MapNode, ...]
    edges: tuple[MapEdge, ...]

    @property
    def layers(self) -> int:
        return max((node.layer + 1 for node in self.nodes), default=0)

    @property
    def widest_layer(self) -> int:
        return max((node.position + 1 for node in self.nodes), default=0)


def _back_edges(services: list[str], callees: dict[str, list[str]]) -> set[tuple[str, str]]:
    """Edges that close a cycle, found by an iterative depth-first search."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    back: set[tuple[str, str]] = set()
    for start in services:
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(callees[start]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(callees[child])))
    return back


def _layers(
    services: list[str], callees: dict[str, list[str]], back: set[tuple[str, str]]
) -> dict[str, int]:
    """Longest-path layering over the edges that remain once cycles are broken."""
    indegree = dict.fromkeys(services, 0)
    for parent in services:
        for child in callees[parent]:
            if (parent, child) not in back:
                indegree[child] += 1
    layer = dict.fromkeys(services, 0)
    ready = [s for s in services if indegree[s] == 0]
    while ready:
        parent = ready.pop()
        for child in callees[parent]:
            if (parent, child) in back:
                continue
            layer[child] = max(layer[child], layer[parent] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return layer


def _order_layers(layer: dict[str, int], links: Sequence[DependencyLink]) -> dict[str, int]:
    """Position of each service in its layer, by the barycentre of its callers."""
    columns: dict[int, list[str]] = {}
    for service in sorted(layer):
        columns.setdefault(layer[service], []).append(service)
    callers: dict[str, list[str]] = {service: [] for service in layer}
    for link in links:
        if layer[link.parent] < layer[link.child]:
            callers[link.child].append(link.parent)
    position = {s: i for column in columns.values() for i, s in enumerate(column)}
    for _ in range(_ORDERING_SWEEPS):
        for index in sorted(columns)[1:]:
            column = columns[index]

            def barycentre(service: str) -> float:
                parents = callers[service]
                if not parents:
                    return float(position[service])
                return sum(position[p] for p in parents) / len(parents)

            column.sort(key=lambda s: (barycentre(s), s))
            position.update({s: i for i, s in enumerate(column)})
    return position


def build_service_map(links: Sequence[DependencyLink]) -> ServiceMap:
    """The map of these calls; self-calls (parent == child) are left out."""
    links = [link for link in links if link.parent != link.child]
    services = sorted({link.parent for link in links} | {link.child for link in links})
    callees: dict[str, list[str]] = {service: [] for service in services}
    for link in sorted(links, key=lambda link: (link.parent, link.child)):
        callees[link.parent].append(link.child)
    back = _back_edges(services, callees)
    layer = _layers(services, callees, back)
    position = _order_layers(layer, links)
    calls_in = dict.fromkeys(services, 0)
    errors_in = dict.fromkeys(services, 0)
    for link in links:
        calls_in[link.child] += link.call_count
        errors_in[link.child] += link.error_count
    nodes = tuple(
        MapNode(s, layer[s], position[s], calls_in[s], errors_in[s])
        for s in sorted(services, key=lambda s: (layer[s], position[s]))
    )
    edges = tuple(
        MapEdge(
            parent=link.parent,
            child=link.child,
            call_count=link.call_count,
            error_count=link.error_count,
            p95_duration_ns=link.p95_duration_ns,
            backwards=layer[link.child] <= layer[link.parent],
        )
        for link in sorted(links, key=lambda link: (link.parent, link.child))
    )
    return ServiceMap(nodes, edges)
