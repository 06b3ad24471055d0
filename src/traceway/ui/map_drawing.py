"""Geometry of the service map as SVG: boxes for services, curves for calls, labels."""

from __future__ import annotations

from dataclasses import dataclass

from traceway.query.service_map import MapEdge, MapNode, ServiceMap
from traceway.ui.formatting import format_duration, format_percent

__all__ = ["EdgeShape", "MapDrawing", "NodeBox", "draw_service_map"]

NODE_W, NODE_H = 180, 56
_GAP_X, _GAP_Y = 210, 64
_MARGIN = 24
_CHAR_W = 6.6  # average advance of the label font, to size label backgrounds
_CORNER = 12  # radius of the bends of a call that runs in the lane above the boxes
_LANE_INSET = 18  # how far from a box such a call climbs and descends


@dataclass(frozen=True, slots=True)
class NodeBox:
    node: MapNode
    x: float
    y: float
    colour: int


@dataclass(frozen=True, slots=True)
class EdgeShape:
    edge: MapEdge
    path: str
    label_x: float
    label_y: float
    label_w: float
    lines: tuple[str, str]
    severity: str
    """``ok``, ``warn`` (some errors) or ``bad`` (5% or more)."""


@dataclass(frozen=True, slots=True)
class MapDrawing:
    width: float
    height: float
    nodes: tuple[NodeBox, ...]
    edges: tuple[EdgeShape, ...]
    node_w: int = NODE_W
    node_h: int = NODE_H


def _severity(edge: MapEdge) -> str:
    if edge.error_rate >= 0.05:
        return "bad"
    return "warn" if edge.error_count else "ok"


def _skips_layers(edge: MapEdge, layer_of: dict[str, int]) -> bool:
    return not edge.backwards and layer_of[edge.child] - layer_of[edge.parent] > 1


def _lane_edge(edge: MapEdge, a: NodeBox, b: NodeBox, lane_y: float) -> EdgeShape:
    """Out of the caller's side, up the gap beside it, along the lane above every box,
    down the gap beside the callee and into its side: a call that skips layers never
    crosses a service it does not call."""
    r = _CORNER
    y0, y3 = a.y + NODE_H / 2, b.y + NODE_H / 2
    xs, xe = a.x + NODE_W + _LANE_INSET, b.x - _LANE_INSET
    path = (
        f"M{a.x + NODE_W:.1f},{y0:.1f} L{xs - r:.1f},{y0:.1f} Q{xs:.1f},{y0:.1f} "
        f"{xs:.1f},{y0 - r:.1f} L{xs:.1f},{lane_y + r:.1f} Q{xs:.1f},{lane_y:.1f} "
        f"{xs + r:.1f},{lane_y:.1f} L{xe - r:.1f},{lane_y:.1f} Q{xe:.1f},{lane_y:.1f} "
        f"{xe:.1f},{lane_y + r:.1f} L{xe:.1f},{y3 - r:.1f} Q{xe:.1f},{y3:.1f} "
        f"{xe + r:.1f},{y3:.1f} L{b.x:.1f},{y3:.1f}"
    )
    return _shape(edge, path, (xs + xe) / 2, lane_y)


def _edge(
    edge: MapEdge, boxes: dict[str, NodeBox], layer_of: dict[str, int], lane_y: float
) -> EdgeShape:
    a, b = boxes[edge.parent], boxes[edge.child]
    if _skips_layers(edge, layer_of):
        return _lane_edge(edge, a, b, lane_y)
    if not edge.backwards:
        x0, y0 = a.x + NODE_W, a.y + NODE_H / 2
        x3, y3 = b.x, b.y + NODE_H / 2
        mid = (x0 + x3) / 2
        c1, c2 = (mid, y0), (mid, y3)
    else:  # below both boxes, from the caller's bottom back to the callee's bottom
        x0, y0 = a.x + NODE_W / 2, a.y + NODE_H
        x3, y3 = b.x + NODE_W / 2, b.y + NODE_H
        dip = max(y0, y3) + _GAP_Y * 0.8
        c1, c2 = (x0, dip), (x3, dip)
    path = f"M{x0:.1f},{y0:.1f} C{c1[0]:.1f},{c1[1]:.1f} {c2[0]:.1f},{c2[1]:.1f} {x3:.1f},{y3:.1f}"
    # The curve's point at t = 1/2.
    lx = 0.125 * x0 + 0.375 * c1[0] + 0.375 * c2[0] + 0.125 * x3
    ly = 0.125 * y0 + 0.375 * c1[1] + 0.375 * c2[1] + 0.125 * y3
    return _shape(edge, path, lx, ly)


def _shape(edge: MapEdge, path: str, lx: float, ly: float) -> EdgeShape:
    calls = f"{edge.call_count} call" + ("" if edge.call_count == 1 else "s")
    first = f"{calls} · {format_percent(edge.error_rate)} errors"
    second = f"p95 {format_duration(edge.p95_duration_ns)}" if edge.p95_duration_ns else "p95 —"
    width = max(len(first), len(second)) * _CHAR_W + 12
    return EdgeShape(edge, path, lx, ly, width, (first, second), _severity(edge))


def draw_service_map(service_map: ServiceMap, colours: dict[str, int]) -> MapDrawing:
    """Boxes left to right by layer, each layer centred on the widest one."""
    widest = service_map.widest_layer
    per_layer: dict[int, int] = {}
    for node in service_map.nodes:
        per_layer[node.layer] = per_layer.get(node.layer, 0) + 1
    layer_of = {node.service_name: node.layer for node in service_map.nodes}
    # Calls that skip a layer run in a lane above the boxes; make room for it.
    top_lane = any(_skips_layers(e, layer_of) for e in service_map.edges)
    top = _MARGIN + (_GAP_Y if top_lane else 0)
    boxes: dict[str, NodeBox] = {}
    for node in service_map.nodes:
        shift = (widest - per_layer[node.layer]) * (NODE_H + _GAP_Y) / 2
        x = _MARGIN + node.layer * (NODE_W + _GAP_X)
        y = top + shift + node.position * (NODE_H + _GAP_Y)
        boxes[node.service_name] = NodeBox(node, x, y, colours.get(node.service_name, 0))
    edges = tuple(_edge(edge, boxes, layer_of, top - _GAP_Y / 2) for edge in service_map.edges)
    backwards = any(edge.backwards for edge in service_map.edges)
    width = 2 * _MARGIN + service_map.layers * NODE_W + max(service_map.layers - 1, 0) * _GAP_X
    height = top + _MARGIN + widest * NODE_H + max(widest - 1, 0) * _GAP_Y
    height += _GAP_Y if backwards else 0
    return MapDrawing(width, height, tuple(boxes.values()), edges)
