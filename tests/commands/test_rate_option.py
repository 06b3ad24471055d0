"""The ``--rate`` parser of ``traceway load`` and ``traceway demo``."""

from __future__ import annotations

import argparse

import pytest

from traceway.commands.options import rate


@pytest.mark.parametrize(("text", "value"), [("0.5", 0.5), ("20", 20.0), ("1000", 1000.0)])
def test_a_rate_above_0_up_to_the_maximum_is_taken(text: str, value: float) -> None:
    assert rate(1000)(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "1000.5", "fast", "nan"])
def test_other_rates_are_refused_saying_what_a_rate_may_be(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        rate(1000)(text)
    assert str(refused.value) == f"{text!r} is not a rate above 0 and at most 1000 per second"
