"""Processing stages: processors in order between the receivers and the commit pipeline."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

from traceway.model import Span
from traceway.pipeline.processing import SpanChange, chain

SPAN = Span(
    trace_id="1" * 32, span_id="2" * 16, name="op", start_time_unix_nano=1, end_time_unix_nano=2
)


class Recorder:
    def __init__(self) -> None:
        self.received: list[Sequence[Span]] = []

    async def consume(self, spans: Sequence[Span]) -> None:
        self.received.append(spans)


class Renamer:
    """Appends its tag to span names, noting the thread the change ran on."""

    def __init__(self, tag: str, change: bool = True) -> None:
        self.tag = tag
        self.change = change
        self.threads: list[str] = []

    def plan(self, spans: Sequence[Span]) -> SpanChange | None:
        if not self.change:
            return None

        def rename() -> Sequence[Span]:
            self.threads.append(threading.current_thread().name)
            return [replace(span, name=span.name + self.tag) for span in spans]

        return rename


async def test_processors_run_in_order_before_the_last_consumer() -> None:
    last = Recorder()
    first, second = Renamer("+redacted"), Renamer("+limited")

    await chain([first, second], last).consume([SPAN])

    (received,) = last.received
    assert [span.name for span in received] == ["op+redacted+limited"]
    # The work of a change happens off the event loop's thread.
    assert threading.main_thread().name not in first.threads + second.threads


async def test_spans_that_need_no_change_go_on_as_they_came() -> None:
    last = Recorder()
    spans = (SPAN,)

    await chain([Renamer("x", change=False)], last).consume(spans)

    assert last.received[0] is spans


async def test_no_processors_is_the_last_consumer_itself() -> None:
    last = Recorder()
    assert chain([], last) is last
