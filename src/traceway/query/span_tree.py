"""The parent/child tree of a trace's spans, shared by summaries, critical path and the UI.

A span whose parent is not in the trace (not arrived, or dropped) is a root. Children
are ordered by start time, then span id, so every view walks the tree the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from traceway.model import Span, Trace

__all__ = ["SpanTree", "TreeNode"]


def _order(span: Span) -> tuple[int, str]:
    return span.start_time_unix_nano, span.span_id


@dataclass(frozen=True, slots=True)
class TreeNode:
    """One span in depth-first order: its depth and how many spans its subtree holds."""

    span: Span
    depth: int
    parent_index: int
    """Index of the parent in the depth-first order, -1 for a root."""
    descendants: int
    """Spans below this one; they follow it directly in the depth-first order."""


class SpanTree:
    """Spans of one trace linked by ``parent_span_id``; duplicate span ids keep the first."""

    def __init__(self, spans: Sequence[Span]) -> None:
        by_id: dict[str, Span] = {}
        for span in spans:
            by_id.setdefault(span.span_id, span)
        self.spans = by_id
        self.children: dict[str, list[Span]] = {}
        roots: list[Span] = []
        for span in by_id.values():
            parent = span.parent_span_id
            if parent and parent in by_id and parent != span.span_id:
                self.children.setdefault(parent, []).append(span)
            else:
                roots.append(span)
        for siblings in self.children.values():
            siblings.sort(key=_order)
        roots.sort(key=_order)
        self.roots = roots
        self._nodes: list[TreeNode] | None = None

    @classmethod
    def of(cls, trace: Trace) -> SpanTree:
        return cls(trace.spans)

    def children_of(self, span_id: str) -> list[Span]:
        return self.children.get(span_id, [])

    def parent_of(self, span: Span) -> Span | None:
        parent = self.spans.get(span.parent_span_id)
        return None if parent is None or parent.span_id == span.span_id else parent

    def nodes(self) -> list[TreeNode]:
        """Every span reachable from a root, depth first (iterative: traces can be deep)."""
        if self._nodes is None:
            self._nodes = list(self._walk())
        return self._nodes

    def _walk(self) -> Iterator[TreeNode]:
        order: list[tuple[Span, int, int]] = []
        seen: set[str] = set()
        self._visit(self.roots, order, seen)
        if len(seen) < len(self.spans):  # spans in a parent cycle: each becomes a root
            cycle = sorted((s for s in self.spans.values() if s.span_id not in seen), key=_order)
            self._visit(cycle, order, seen)
        descendants = [0] * len(order)
        for index in range(len(order) - 1, -1, -1):
            parent_index = order[index][2]
            if parent_index >= 0:
                descendants[parent_index] += descendants[index] + 1
        for index, (span, depth, parent_index) in enumerate(order):
            yield TreeNode(span, depth, parent_index, descendants[index])

    def _visit(self, roots: list[Span], order: list[tuple[Span, int, int]], seen: set[str]) -> None:
        stack: list[tuple[Span, int, int]] = [(root, 0, -1) for root in reversed(roots)]
        while stack:
            span, depth, parent_index = stack.pop()
            if span.span_id in seen:
                continue
            seen.add(span.span_id)
            index = len(order)
            order.append((span, depth, parent_index))
            for child in reversed(self.children_of(span.span_id)):
                stack.append((child, depth + 1, index))

    def depth(self) -> int:
        """Levels in the tree: 1 for a lone span, 0 for no spans."""
        return max((node.depth + 1 for node in self.nodes()), default=0)
