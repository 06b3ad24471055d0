"""Service map geometry: calls that skip a layer never cross the services between."""

from __future__ import annotations

from traceway.query.service_map import build_service_map
from traceway.storage.api import DependencyLink
from traceway.ui.map_drawing import NODE_H, NODE_W, draw_service_map


def test_a_call_that_skips_a_layer_runs_above_every_box() -> None:
    links = [
        DependencyLink("gateway", "user", 10),
        DependencyLink("user", "auth", 10),
        DependencyLink("gateway", "auth", 5),
    ]
    drawing = draw_service_map(build_service_map(links), {})
    boxes = {box.node.service_name: box for box in drawing.nodes}
    assert [boxes[s].node.layer for s in ("gateway", "user", "auth")] == [0, 1, 2]
    skipping = next(
        e for e in drawing.edges if (e.edge.parent, e.edge.child) == ("gateway", "auth")
    )
    top_of_boxes = min(box.y for box in boxes.values())
    assert skipping.label_y < top_of_boxes
    gateway = boxes["gateway"]
    assert skipping.path.startswith(f"M{gateway.x + NODE_W:.1f},{gateway.y + NODE_H / 2:.1f} L")
    for box in drawing.nodes:
        assert box.y + NODE_H <= drawing.height
    direct = next(e for e in drawing.edges if (e.edge.parent, e.edge.child) == ("gateway", "user"))
    assert top_of_boxes < direct.label_y < top_of_boxes + 2 * NODE_H + 64
