"""Processors: stages between the receivers and the commit pipeline that change spans.

A processor only looks at spans and says what it would change; ``ProcessingStage``
makes it a ``SpanConsumer`` in front of the next one, in the OpenTelemetry
Collector's shape: one consumer method between stages. The look must be cheap
(it runs on the event loop for every request); the change, when there is one,
runs on a worker thread so that a pathological span cannot stall the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

from traceway.model import Span
from traceway.pipeline.api import SpanConsumer

__all__ = ["ProcessingStage", "SpanChange", "SpanProcessor", "chain"]

SpanChange = Callable[[], Sequence[Span]]
"""Work that returns the changed spans; it never changes the spans it was given."""


class SpanProcessor(Protocol):
    def plan(self, spans: Sequence[Span]) -> SpanChange | None:
        """None when ``spans`` pass unchanged, else the work that changes them."""


class ProcessingStage:
    """A ``SpanConsumer`` that runs a processor, then hands the spans to ``next_consumer``."""

    def __init__(self, processor: SpanProcessor, next_consumer: SpanConsumer) -> None:
        self._processor = processor
        self._next = next_consumer

    async def consume(self, spans: Sequence[Span]) -> None:
        change = self._processor.plan(spans)
        if change is not None:
            spans = await asyncio.to_thread(change)
        await self._next.consume(spans)


def chain(processors: Sequence[SpanProcessor], last: SpanConsumer) -> SpanConsumer:
    """A consumer that runs ``processors`` in order, then hands the spans to ``last``."""
    consumer = last
    for processor in reversed(processors):
        consumer = ProcessingStage(processor, consumer)
    return consumer
