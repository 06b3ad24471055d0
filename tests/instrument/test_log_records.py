"""Trace ids and service name on every log record, and the two output formats."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from traceway.instrument import (
    JsonFormatter,
    TextFormatter,
    install_log_record_factory,
    instrument_logging,
    traced,
)
from traceway.testing import CapturedSpans

PROGRAM = Path(__file__).parent / "programs" / "traced_service.py"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Root-logger output captured through instrument_logging(), removed afterwards."""
    stream = io.StringIO()
    yield stream
    for handler in logging.getLogger().handlers[:]:
        if getattr(handler, "stream", None) is stream:
            logging.getLogger().removeHandler(handler)


def test_records_inside_a_span_carry_its_ids(spans: CapturedSpans) -> None:
    install_log_record_factory()
    logger = logging.getLogger("test.ids")
    with traced("handle order"):
        inside = logger.makeRecord("test.ids", logging.INFO, __file__, 1, "in", (), None)
    outside = logger.makeRecord("test.ids", logging.INFO, __file__, 1, "out", (), None)

    span = spans.one("handle order")
    assert (inside.trace_id, inside.span_id) == (span.trace_id, span.span_id)
    assert (outside.trace_id, outside.span_id) == ("", "")
    assert inside.service_name == span.service_name


def test_installing_the_factory_twice_keeps_one(spans: CapturedSpans) -> None:
    install_log_record_factory()
    factory = logging.getLogRecordFactory()
    install_log_record_factory()
    assert logging.getLogRecordFactory() is factory


def test_text_lines_end_with_the_ids(spans: CapturedSpans, log_stream: io.StringIO) -> None:
    instrument_logging("text", stream=log_stream, level=logging.INFO)
    with traced("charge card"):
        logging.getLogger("shop").info("charged %s", "7 EUR")
    logging.getLogger("shop").info("idle")

    span = spans.one("charge card")
    charged, idle = log_stream.getvalue().splitlines()
    assert charged.endswith(f"shop: charged 7 EUR trace_id={span.trace_id} span_id={span.span_id}")
    assert " INFO " in charged
    assert idle.endswith("shop: idle trace_id= span_id=")


def test_json_lines_are_one_object_each(spans: CapturedSpans, log_stream: io.StringIO) -> None:
    instrument_logging("json", stream=log_stream, level=logging.INFO, service_name="billing")
    with traced("refund"):
        try:
            raise ValueError("no such payment")
        except ValueError:
            logging.getLogger("billing.refunds").exception("refund failed", extra={"order": 7})

    span = spans.one("refund")
    (line,) = log_stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["message"] == "refund failed"
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "billing.refunds"
    assert entry["trace_id"] == span.trace_id
    assert entry["span_id"] == span.span_id
    assert entry["service.name"] == "billing"
    assert entry["order"] == 7
    assert "ValueError: no such payment" in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_instrument_logging_again_replaces_its_handler(log_stream: io.StringIO) -> None:
    before = len(logging.getLogger().handlers)
    first = instrument_logging("text", stream=log_stream)
    second = instrument_logging("json", stream=log_stream)
    handlers = logging.getLogger().handlers
    assert second in handlers
    assert first not in handlers
    assert len(handlers) == before + 1


def test_formatters_fill_in_records_made_elsewhere() -> None:
    record = logging.LogRecord("remote", logging.INFO, __file__, 1, "from a queue", (), None)
    for name in ("trace_id", "span_id", "service_name"):
        record.__dict__.pop(name, None)
    assert TextFormatter().format(record).endswith("from a queue trace_id= span_id=")
    assert json.loads(JsonFormatter().format(record))["trace_id"] == ""


def test_configure_logs_json_from_the_environment() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_SERVICE_NAME="orders",
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        TRACEWAY_LOG_FORMAT="json",
    )
    result = subprocess.run(
        [sys.executable, str(PROGRAM), "logs"], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    inside, outside = (json.loads(line) for line in result.stderr.splitlines())
    assert inside["message"] == "inside"
    assert inside["service.name"] == "orders"
    assert len(inside["trace_id"]) == 32
    assert len(inside["span_id"]) == 16
    assert outside["trace_id"] == ""
