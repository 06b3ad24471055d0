"""The span tree: depth-first order, depths, subtree sizes, orphans and cycles."""

from __future__ import annotations

from tests.query.spans import span, trace_of
from traceway.query.span_tree import SpanTree


def shape(tree: SpanTree) -> list[tuple[str, int, int, int]]:
    return [
        (n.span.span_id.lstrip("0"), n.depth, n.parent_index, n.descendants) for n in tree.nodes()
    ]


def test_children_follow_their_parent_in_start_order() -> None:
    tree = SpanTree.of(
        trace_of(
            span("1", 0, 100),
            span("b", 50, 60, parent="1"),
            span("a", 10, 40, parent="1"),
            span("c", 20, 30, parent="a"),
        )
    )
    assert shape(tree) == [("1", 0, -1, 3), ("a", 1, 0, 1), ("c", 2, 1, 0), ("b", 1, 0, 0)]
    assert tree.depth() == 3


def test_a_span_whose_parent_is_missing_is_a_root() -> None:
    tree = SpanTree.of(trace_of(span("1", 0, 10), span("2", 5, 8, parent="9")))
    assert [s.span_id.lstrip("0") for s in tree.roots] == ["1", "2"]
    assert tree.depth() == 1


def test_spans_in_a_parent_cycle_are_still_shown_once() -> None:
    tree = SpanTree.of(trace_of(span("1", 0, 10, parent="2"), span("2", 1, 5, parent="1")))
    assert sorted(n.span.span_id.lstrip("0") for n in tree.nodes()) == ["1", "2"]


def test_a_span_that_names_itself_as_parent_is_a_root() -> None:
    tree = SpanTree.of(trace_of(span("1", 0, 10, parent="1")))
    assert shape(tree) == [("1", 0, -1, 0)]
