"""The critical path of a trace: the chain of work that decided how long it took.

The algorithm is Jaeger UI's (``TracePage/CriticalPath``): start at the root at its
end, and walk back in time. At each span, the last-finishing child that ends before
the current point is on the path; the span's own time after that child's end is on
the path too. Descend into that child from its end; when a span has no such child,
its time back to its start is on the path and the walk returns to its parent at
that span's start.

Before the walk, each span is clamped into its parent's time (children outliving
their parent, or shifted by clock skew, are cut to fit), and spans entirely outside
their parent's time are left out with their subtrees, as Jaeger UI does.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from traceway.model import Span, Trace
from traceway.query.span_tree import SpanTree

__all__ = ["CriticalSegment", "critical_path", "critical_path_of"]


@dataclass(frozen=True, slots=True)
class CriticalSegment:
    """A stretch of one span's time that lies on the critical path."""

    span_id: str
    start_ns: int
    end_ns: int


def _main_root(tree: SpanTree) -> Span | None:
    """The longest root, earliest first on a tie (a partial trace can have several)."""
    return min(
        tree.roots, key=lambda s: (-s.duration_ns, s.start_time_unix_nano, s.span_id), default=None
    )


def _clamped_bounds(tree: SpanTree, root: Span) -> dict[str, tuple[int, int]]:
    """(start, end) of every span under ``root``, cut to fit inside its parent."""
    bounds = {
        root.span_id: (
            root.start_time_unix_nano,
            max(root.end_time_unix_nano, root.start_time_unix_nano),
        )
    }
    queue = deque([root.span_id])
    while queue:
        span_id = queue.popleft()
        low, high = bounds[span_id]
        for child in tree.children_of(span_id):
            if child.span_id in bounds:
                continue
            start, end = (
                child.start_time_unix_nano,
                max(child.end_time_unix_nano, child.start_time_unix_nano),
            )
            if start > high or end < low:
                continue
            bounds[child.span_id] = (max(start, low), min(end, high))
            queue.append(child.span_id)
    return bounds


def critical_path(trace: Trace) -> list[CriticalSegment]:
    """Segments of the critical path in time order; empty for a trace without spans."""
    return critical_path_of(SpanTree.of(trace))


def critical_path_of(tree: SpanTree) -> list[CriticalSegment]:
    """``critical_path`` over an already built tree of the trace."""
    root = _main_root(tree)
    if root is None:
        return []
    bounds = _clamped_bounds(tree, root)
    latest_first: dict[str, list[str]] = {}
    for span_id in bounds:
        kept = [c.span_id for c in tree.children_of(span_id) if c.span_id in bounds]
        latest_first[span_id] = sorted(kept, key=lambda c: (-bounds[c][1], -bounds[c][0], c))

    segments: list[CriticalSegment] = []
    visited: set[str] = set()
    current, until = root.span_id, bounds[root.span_id][1]
    while True:
        visited.add(current)
        start = bounds[current][0]
        # "Ends before the current point", where touching counts; ``visited`` keeps a
        # zero-length child from being chosen again after the walk returns from it.
        child = next(
            (c for c in latest_first[current] if bounds[c][1] <= until and c not in visited),
            None,
        )
        if child is not None:
            child_end = bounds[child][1]
            if child_end < until:
                segments.append(CriticalSegment(current, child_end, until))
            current, until = child, child_end
            continue
        if until > start:
            segments.append(CriticalSegment(current, start, until))
        if current == root.span_id:
            break
        parent = tree.parent_of(tree.spans[current])
        if parent is None:  # cannot happen: every clamped span hangs below the root
            break
        current, until = parent.span_id, start
    segments.reverse()
    return segments
