"""Screens run where batches are decoded: the processors apply their answers as their own."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import replace

from traceway.model import Span
from traceway.pipeline.limits import TRUNCATED_ATTRIBUTES, SpanLimiter, SpanLimits
from traceway.pipeline.processing import chain
from traceway.pipeline.redaction import MASK, REDACTED_COUNT, RedactionRules, Redactor
from traceway.pipeline.span_rewrite import BatchScreens, ScreenedBatch, screen_specs
from traceway.storage.span_batch import SpanBatch, span_batch_of


def spans(count: int) -> list[Span]:
    """Spans of which the fifth has a secret and the seventh a long value."""
    made = []
    for number in range(1, count + 1):
        attributes: dict[str, object] = {"http.method": "GET", "order.id": number}
        if number == 5:
            attributes["api_key"] = "abc"
        if number == 7:
            attributes["note"] = "y" * 50
        made.append(
            Span(
                trace_id=f"{number:032x}",
                span_id=f"{number:016x}",
                name=f"op {number}",
                start_time_unix_nano=1_750_000_000_000_000_000 + number,
                end_time_unix_nano=1_750_000_000_000_000_000 + number + 10,
                attributes=attributes,  # type: ignore[arg-type]
            )
        )
    return made


class Recorder:
    def __init__(self) -> None:
        self.received: list[Sequence[Span]] = []

    async def consume(self, spans: Sequence[Span]) -> None:
        self.received.append(spans)


def processors() -> list[Redactor | SpanLimiter]:
    return [Redactor(RedactionRules()), SpanLimiter(SpanLimits(max_attribute_length=10))]


async def test_a_screened_batch_is_redacted_and_limited_as_an_unscreened_one() -> None:
    batch = span_batch_of(spans(20))
    screened = BatchScreens(screen_specs(processors())).screened(batch)
    results = []
    for given in (batch, screened):
        last = Recorder()
        await chain(processors(), last).consume(given)
        results.append(list(last.received[0]))
    assert results[0] == results[1]
    by_name = {span.name: span for span in results[1]}
    assert by_name["op 5"].attributes["api_key"] == MASK
    assert by_name["op 5"].attributes[REDACTED_COUNT] == 1
    assert by_name["op 7"].attributes["note"] == "y" * 10
    assert by_name["op 7"].attributes[TRUNCATED_ATTRIBUTES] == ["note"]
    assert by_name["op 8"] == spans(20)[7]


async def test_the_rows_of_a_screened_batch_are_taken_instead_of_screening_again() -> None:
    redactor = Redactor(RedactionRules())
    batch = span_batch_of([span for span in spans(20) if span.name != "op 7"])
    change = redactor.plan(batch)
    assert change is not None
    change()  # the resource and scope are now known to pass unchanged
    assert redactor.plan(batch) is not None  # the secret of span 5
    # A screen elsewhere that found nothing is believed ...
    nothing = ScreenedBatch(batch.table, batch.resources, batch.scopes, {redactor.screen_spec: []})
    assert redactor.plan(nothing) is None
    # ... but only by a processor of the same kind and configuration.
    other = Redactor(RedactionRules(keys=("api_key",)))
    other_change = other.plan(nothing)
    assert other_change is not None
    assert isinstance(other_change(), SpanBatch)


def test_screen_specs_rebuild_the_same_screens_in_another_process() -> None:
    specs = screen_specs(processors())
    assert pickle.loads(pickle.dumps(specs)) == specs
    batch = span_batch_of(spans(20))
    expected = [sorted(set(processor.screen(batch))) for processor in processors()]
    rows = BatchScreens(pickle.loads(pickle.dumps(specs))).rows(batch)
    assert rows == expected
    assert rows[0] == [4]  # the secret; the limiter's screen may answer more than needed
    assert 6 in rows[1]


def test_only_span_rewriters_have_screens_to_move() -> None:
    class Renamer:
        def plan(self, spans: Sequence[Span]) -> None:
            return None

    assert screen_specs([Renamer(), *processors()]) == screen_specs(processors())
    assert len(screen_specs(processors())) == 2
    changed = SpanLimiter(replace(SpanLimits(), max_links=3)).screen_spec
    assert changed != SpanLimiter(SpanLimits()).screen_spec
