"""Trace ids in every log line.

A LogRecord factory (not a Filter) adds ``trace_id``, ``span_id`` (lowercase hex, empty
outside a span) and ``service_name`` to every record, so that any handler and any
formatter of the application can use them (``%(trace_id)s``). configure() installs the
factory; output is left to the application unless it asks for one of the two formats
here, through ``configure(logs=...)`` or instrument_logging().
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TextIO, TypeAlias

from opentelemetry import trace

__all__ = [
    "JsonFormatter",
    "LogFormat",
    "TextFormatter",
    "install_log_record_factory",
    "instrument_logging",
]

LogFormat: TypeAlias = Literal["text", "json"]

_UNKNOWN_SERVICE = "unknown_service"
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(
    [*logging.makeLogRecord({}).__dict__, "message", "asctime", "taskName"]
)
_TRACE_ATTRIBUTES = ("trace_id", "span_id", "service_name")

_factory_lock = threading.Lock()
_installed_factory: Callable[..., logging.LogRecord] | None = None
_handler: logging.Handler | None = None


def _trace_fields() -> tuple[str, str]:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _service_name() -> str:
    resource = getattr(trace.get_tracer_provider(), "resource", None)
    name = resource.attributes.get("service.name") if resource is not None else None
    if isinstance(name, str) and name:
        return name
    return os.environ.get("OTEL_SERVICE_NAME") or _UNKNOWN_SERVICE


def _add_trace_fields(record: logging.LogRecord) -> None:
    trace_id, span_id = _trace_fields()
    record.trace_id = trace_id
    record.span_id = span_id
    record.service_name = _service_name()


def install_log_record_factory() -> None:
    """Make every LogRecord carry trace_id, span_id and service_name; safe to call again."""
    global _installed_factory
    with _factory_lock:
        if _installed_factory is not None:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _add_trace_fields(record)
            return record

        _installed_factory = factory
        logging.setLogRecordFactory(factory)


def _ensure_trace_fields(record: logging.LogRecord, service_name: str | None) -> None:
    # Records made before the factory was installed, or in another process.
    if not all(hasattr(record, name) for name in _TRACE_ATTRIBUTES):
        _add_trace_fields(record)
    if service_name:
        record.service_name = service_name


class TextFormatter(logging.Formatter):
    """Plain lines ending in ``trace_id=... span_id=...``, easy to grep and to paste into the UI."""

    DEFAULT_FORMAT = (
        "%(asctime)s %(levelname)s [%(service_name)s] %(name)s: %(message)s"
        " trace_id=%(trace_id)s span_id=%(span_id)s"
    )

    def __init__(
        self, fmt: str | None = None, datefmt: str | None = None, *, service_name: str | None = None
    ) -> None:
        super().__init__(fmt or self.DEFAULT_FORMAT, datefmt)
        self.service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        _ensure_trace_fields(record, self.service_name)
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the OpenTelemetry field names a log store indexes."""

    def __init__(self, *, service_name: str | None = None) -> None:
        super().__init__()
        self.service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        _ensure_trace_fields(record, self.service_name)
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", ""),
            "span_id": getattr(record, "span_id", ""),
            "service.name": getattr(record, "service_name", _UNKNOWN_SERVICE),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and key not in _TRACE_ATTRIBUTES:
                entry.setdefault(key, value)
        return json.dumps(entry, default=str, ensure_ascii=False)


def instrument_logging(
    format: LogFormat = "text",
    *,
    level: int | str | None = None,
    stream: TextIO | None = None,
    service_name: str | None = None,
) -> logging.Handler:
    """Send root-logger output to ``stream`` (stderr) in ``format``, with trace ids.

    Adds one handler to the root logger (calling again replaces it, never duplicates
    it) and leaves the application's other handlers alone: use it instead of
    ``logging.basicConfig``. ``service_name`` overrides, in this output, the one read
    from the tracer provider's resource.
    """
    global _handler
    install_log_record_factory()
    formatter: logging.Formatter = (
        JsonFormatter(service_name=service_name)
        if format == "json"
        else TextFormatter(service_name=service_name)
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    if level is not None:
        root.setLevel(level)
    _handler = handler
    return handler
