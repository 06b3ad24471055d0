"""The trace page's data: typed values and warnings about the tree."""

from __future__ import annotations

import math

from tests.ui.conftest import GATEWAY, MS, make_span
from traceway.model import Trace
from traceway.query.summaries import summarize
from traceway.ui.trace_view import trace_view, typed_attributes

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_attribute_values_keep_their_type() -> None:
    values = {
        "s": "<b>text</b>",
        "t": True,
        "i": -7,
        "huge": 2**63 - 1,
        "d": 1.5,
        "nan": math.nan,
        "raw": b"\x00\xff",
        "list": [1, "a", b"\x01"],
        "map": {"k": [2.5, None]},
        "none": None,
    }
    assert typed_attributes(values) == [
        ["s", "string", "<b>text</b>"],
        ["t", "bool", True],
        ["i", "int", -7],
        ["huge", "int", str(2**63 - 1)],
        ["d", "double", 1.5],
        ["nan", "double", "nan"],
        ["raw", "bytes", "AP8="],
        ["list", "array", [1, "a", "AQ=="]],
        ["map", "map", {"k": [2.5, None]}],
        ["none", "null", None],
    ]


def test_spans_warn_about_missing_parents_and_skew() -> None:
    t0 = 1_700_000_000_000 * MS
    trace = Trace(
        TRACE,
        (
            make_span(TRACE, "0000000000000001", "root", GATEWAY, t0, 10),
            make_span(
                TRACE,
                "0000000000000002",
                "early",
                GATEWAY,
                t0 - MS,
                20,
                parent_span_id="0000000000000001",
            ),
            make_span(
                TRACE,
                "0000000000000003",
                "orphan",
                GATEWAY,
                t0,
                1,
                parent_span_id="00000000000000ff",
            ),
        ),
    )
    view = trace_view(trace, summarize(trace), {})
    warnings = {span["name"]: span["warnings"] for span in view["spans"]}
    assert warnings["root"] == []
    assert warnings["early"] == [
        "starts before its parent (clock skew between hosts?)",
        "ends after its parent",
    ]
    assert warnings["orphan"] == ["parent span 00000000000000ff is not in this trace (yet)"]
    assert view["startNs"] == str(t0 - MS)
    assert len(view["resources"]) == 1
