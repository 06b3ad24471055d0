"""``traceway serve --decode-workers``: the flag, its variable, and what it refuses."""

from __future__ import annotations

import os

import pytest

from tests.commands.test_serve_trace_spans_option import config_of


@pytest.fixture(autouse=True)
def no_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACEWAY_DECODE_WORKERS", raising=False)


def test_the_default_is_one_worker_per_cpu() -> None:
    assert config_of().decode_workers == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("text", "workers"), [("0", 0), ("1", 1), ("3", 3)])
def test_the_flag_sets_the_workers_and_0_decodes_in_the_server(text: str, workers: int) -> None:
    assert config_of("--decode-workers", text).decode_workers == workers


def test_the_variable_sets_the_workers_and_the_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEWAY_DECODE_WORKERS", "0")
    assert config_of().decode_workers == 0
    assert config_of("--decode-workers", "2").decode_workers == 2


@pytest.mark.parametrize("text", ["-1", "some", "1.5", ""])
def test_a_count_that_is_not_a_whole_number_is_refused(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        config_of("--decode-workers", text)
    assert exit_info.value.code == 2
    assert f"argument --decode-workers: {text!r} is not a whole number (0 or more)" in (
        capsys.readouterr().err
    )
