"""``SpanBatch``: spans as columns that still behave as a sequence of ``Span``s."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.storage.fixture_data import load_spans
from traceway.model import Span, Trace
from traceway.receivers.otlp_decode import decode_protobuf
from traceway.receivers.otlp_encode import encode_protobuf
from traceway.storage.duckdb import DuckDBStore
from traceway.storage.span_batch import SpanBatch, join_spans, span_batch_of


def _traces(spans: list[Span]) -> dict[str, Trace]:
    by_trace: dict[str, list[Span]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    return {
        trace_id: Trace(
            trace_id, tuple(sorted(group, key=lambda s: (s.start_time_unix_nano, s.span_id)))
        )
        for trace_id, group in by_trace.items()
    }


def test_a_batch_reads_back_the_spans_it_was_made_of() -> None:
    spans = load_spans()
    batch = span_batch_of(spans)
    assert len(batch) == len(spans)
    assert list(batch) == spans
    assert batch == spans
    assert batch == tuple(spans)
    assert batch[3] == spans[3]
    assert batch[-1] == spans[-1]
    assert batch[1:3] == spans[1:3]
    with pytest.raises(IndexError):
        batch[len(spans)]


def test_a_batch_is_not_equal_to_other_spans() -> None:
    spans = load_spans()
    assert span_batch_of(spans) != spans[:-1]
    assert span_batch_of(spans) != list(reversed(spans))
    assert span_batch_of([]) == ()


def test_joined_batches_keep_order_resources_and_scopes() -> None:
    spans = load_spans()
    parts = [span_batch_of(spans[:5]), span_batch_of(spans[5:])]
    joined = join_spans(parts)
    assert isinstance(joined, SpanBatch)
    assert joined == spans
    # A sequence that is not a batch: the spans are joined as objects.
    assert join_spans([parts[0], spans[5:]]) == spans


def test_decoded_spans_store_the_same_as_span_objects(tmp_path: Path) -> None:
    spans = load_spans()
    decoded = decode_protobuf(encode_protobuf(spans)).spans
    assert isinstance(decoded, SpanBatch)
    expected = _traces(spans)
    with DuckDBStore(tmp_path / "traces.duckdb") as store:
        store.write_spans(decoded)
        store.write_spans(decoded)  # idempotent for batches as well
        assert {trace_id: store.get_trace(trace_id) for trace_id in expected} == expected


def test_a_batch_with_a_time_past_int64_is_refused_whole(tmp_path: Path) -> None:
    spans = load_spans()[:2]
    too_late = Span(spans[0].trace_id, "00000000000000ff", "late", 2**63, 2**63 + 1)
    batch = decode_protobuf(encode_protobuf([*spans, too_late])).spans
    with DuckDBStore(tmp_path / "traces.duckdb") as store:
        with pytest.raises(ValueError, match="invalid start_time_unix_nano"):
            store.write_spans(batch)
        assert store.get_trace(spans[0].trace_id) is None
