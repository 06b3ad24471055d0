"""``traceway serve --max-trace-spans``: the flag, its variable, and what it refuses."""

from __future__ import annotations

import argparse

import pytest

from traceway.commands import serve
from traceway.query.span_limit import DEFAULT_MAX_TRACE_SPANS
from traceway.server import ServeConfig


def config_of(*flags: str) -> ServeConfig:
    """The configuration ``traceway serve --memory <flags>`` would run with."""
    parser = argparse.ArgumentParser(prog="traceway")
    serve.add_parser(parser.add_subparsers(dest="command"))
    return serve.config_from(parser.parse_args(["serve", "--memory", *flags]))


@pytest.fixture(autouse=True)
def no_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACEWAY_MAX_TRACE_SPANS", raising=False)


def test_the_default_is_50_000_spans() -> None:
    assert config_of().max_trace_spans == DEFAULT_MAX_TRACE_SPANS == 50_000


@pytest.mark.parametrize(("text", "limit"), [("120", 120), ("1", 1), ("200_000", 200_000)])
def test_the_flag_sets_the_limit(text: str, limit: int) -> None:
    assert config_of("--max-trace-spans", text).max_trace_spans == limit


def test_the_variable_sets_the_limit_and_the_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEWAY_MAX_TRACE_SPANS", "7000")
    assert config_of().max_trace_spans == 7000
    assert config_of("--max-trace-spans", "30").max_trace_spans == 30


@pytest.mark.parametrize("text", ["0", "-5", "lots", "1.5", "off", ""])
def test_a_limit_that_is_not_a_positive_whole_number_is_refused(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        config_of("--max-trace-spans", text)
    assert exit_info.value.code == 2
    assert f"argument --max-trace-spans: {text!r} is not a positive whole number" in (
        capsys.readouterr().err
    )


def test_a_bad_variable_is_refused_naming_the_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRACEWAY_MAX_TRACE_SPANS", "0")
    with pytest.raises(SystemExit):
        config_of()
    assert "argument --max-trace-spans: '0' is not a positive whole number" in (
        capsys.readouterr().err
    )


def test_the_help_names_the_variable_and_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        config_of("--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "--max-trace-spans N" in text
    assert "$TRACEWAY_MAX_TRACE_SPANS" in text
    assert "(50,000)" in text
