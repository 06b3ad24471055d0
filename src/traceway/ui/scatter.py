"""Geometry of the search page's scatter plot: trace duration over start time, as SVG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from traceway.query.summaries import TraceSummary
from traceway.ui.formatting import format_duration, format_utc

__all__ = ["Scatter", "ScatterPoint", "Tick", "scatter_plot"]

WIDTH = 1000
HEIGHT = 170
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 12, 26
_X_TICKS = 5
_Y_TICKS = 4


@dataclass(frozen=True, slots=True)
class ScatterPoint:
    trace_id: str
    x: float
    y: float
    r: float
    error: bool
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str
    ns: int = 0
    """The instant of a time tick (for the browser's own rendering), 0 on other axes."""


@dataclass(frozen=True, slots=True)
class Scatter:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    points: tuple[ScatterPoint, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]


def _nice_ceiling(value: int) -> int:
    """1, 2 or 5 times a power of ten, at least ``value`` (a readable axis maximum)."""
    if value <= 1:
        return 1
    power = int("1" + "0" * (len(str(value)) - 1))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def scatter_plot(summaries: Sequence[TraceSummary]) -> Scatter:
    """Points for the traces, x over their start times, y over 0 … the longest duration."""
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    if summaries:
        first = min(s.start_ns for s in summaries)
        last = max(s.start_ns for s in summaries)
    else:
        first = last = 0
    pad = max((last - first) // 20, 10**9)
    low, high = first - pad, last + pad
    top = _nice_ceiling(max((s.duration_ns for s in summaries), default=1))
    most_spans = max((s.span_count for s in summaries), default=1)

    def x_of(ns: int) -> float:
        return round(_LEFT + (ns - low) / (high - low) * plot_w, 1)

    def y_of(ns: int) -> float:
        return round(_TOP + plot_h - ns / top * plot_h, 1)

    points = tuple(
        ScatterPoint(
            trace_id=s.trace_id,
            x=x_of(s.start_ns),
            y=y_of(s.duration_ns),
            r=round(3 + 5 * math.sqrt(s.span_count / most_spans), 1),
            error=s.error_count > 0,
            title=f"{s.root_service}: {s.root_operation} — {format_duration(s.duration_ns)}, "
            f"{s.span_count} spans, {s.error_count} errors, {format_utc(s.start_ns)}",
        )
        # Long traces first, so that short ones are drawn on top and stay clickable.
        for s in sorted(summaries, key=lambda s: -s.duration_ns)
    )
    x_ticks = tuple(
        Tick(x_of(ns), format_utc(ns, with_date=False), ns)
        for ns in (low + (high - low) * i // (_X_TICKS - 1) for i in range(_X_TICKS))
    )
    y_ticks = tuple(
        Tick(y_of(top * i // _Y_TICKS), format_duration(top * i // _Y_TICKS))
        for i in range(_Y_TICKS + 1)
    )
    return Scatter(WIDTH, HEIGHT, _LEFT, _RIGHT, _TOP, _BOTTOM, points, x_ticks, y_ticks)
