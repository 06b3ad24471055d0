"""Dependencies from the parent's resource stored with a span agree with a plain join.

The DuckDB store takes a child's parent from the same batch where it can and joins
only the rest; whatever the batches, the windows and the order of writes, its answer
must be the memory store's, which looks every parent up.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from traceway.model import Resource, Span, StatusCode
from traceway.storage.duckdb import DuckDBStore, aggregates
from traceway.storage.memory import MemoryStore

_SERVICES = [Resource({"service.name": name}) for name in ("a", "b", "c")]
_MS = 1_000_000


def _traces(rnd: random.Random, count: int, shared_span_ids: bool = False) -> list[Span]:
    """Traces of up to 12 spans over 0..100 ms, parents sometimes missing or late; with
    ``shared_span_ids``, every trace's span ids are 1, 2, 3, ... (as some tools make them)."""
    spans: list[Span] = []
    for number in range(count):
        trace_id = f"{number + 1:032x}"
        start = rnd.randrange(100 * _MS)
        ids: list[str] = []
        for position in range(rnd.randrange(1, 13)):
            span_id = f"{position + 1 if shared_span_ids else rnd.getrandbits(64) | 1:016x}"
            parent = rnd.choice(ids) if ids and rnd.random() < 0.9 else ""
            if rnd.random() < 0.05:
                parent = f"{rnd.getrandbits(64) | 1:016x}"  # never written
            begin = max(start + rnd.randrange(-5 * _MS, 20 * _MS), 0)  # children may start first
            spans.append(
                Span(
                    trace_id,
                    span_id,
                    "op",
                    begin,
                    max(begin + rnd.randrange(-_MS, 30 * _MS), 0),  # may end before start
                    parent_span_id=parent,
                    resource=rnd.choice(_SERVICES),
                    status_code=StatusCode.ERROR if rnd.random() < 0.2 else StatusCode.UNSET,
                )
            )
            ids.append(span_id)
    return spans


def _batches(rnd: random.Random, spans: list[Span]) -> list[list[Span]]:
    """The spans in random order and random batch sizes, some of them sent twice."""
    shuffled = spans + rnd.sample(spans, len(spans) // 10)
    rnd.shuffle(shuffled)
    batches, position = [], 0
    while position < len(shuffled):
        size = rnd.choice((1, 3, 10, 40, 200))
        batches.append(shuffled[position : position + size])
        position += size
    return batches


@pytest.mark.parametrize("seed", range(6))
def test_dependencies_match_a_join_over_every_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    if seed % 2:
        monkeypatch.setattr(aggregates, "_SPANS_PER_PASS", 100)  # the join in many passes
    rnd = random.Random(seed)
    spans = _traces(rnd, 150, shared_span_ids=seed >= 4)
    memory = MemoryStore()
    with DuckDBStore(tmp_path / "traces.duckdb") as store:
        # One whole batch first (parents found in the batch), then mixed ones.
        store.write_spans(spans[: len(spans) // 3])
        memory.write_spans(spans[: len(spans) // 3])
        for batch in _batches(rnd, spans[len(spans) // 3 :]):
            store.write_spans(batch)
            memory.write_spans(batch)
        windows = [(0, 2**63 - 1)] + [
            tuple(sorted((rnd.randrange(130 * _MS), rnd.randrange(130 * _MS)))) for _ in range(30)
        ]
        for start, end in windows:
            expected = memory.get_dependencies(start, end)
            assert store.get_dependencies(start, end) == expected, (start, end)
        assert store.get_dependencies(0, 2**63 - 1)  # the data does have calls


def test_a_parent_written_in_the_same_batch_outside_the_window_is_not_a_call(
    tmp_path: Path,
) -> None:
    parent = Span("1" * 32, "1" * 16, "op", 10 * _MS, 50 * _MS, resource=_SERVICES[0])
    child = Span(
        "1" * 32, "2" * 16, "op", 20 * _MS, 30 * _MS, parent_span_id="1" * 16,
        resource=_SERVICES[1],
    )  # fmt: skip
    with DuckDBStore(tmp_path / "traces.duckdb") as store:
        store.write_spans([parent, child])
        assert store.get_dependencies(15 * _MS, 40 * _MS) == []
        assert store.get_dependencies(10 * _MS, 20 * _MS) != []
        assert store.get_dependencies(20 * _MS, 40 * _MS) == []
