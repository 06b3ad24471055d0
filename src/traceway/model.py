"""The one internal shape of a span, shared by receivers, storage, query and UI.

Conventions (see ARCHITECTURE.md): ids are lowercase hex strings, times are integer
nanoseconds since the Unix epoch, and attribute values keep their OTLP types: an int
stays an int, a list stays a list, bytes stay bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeAlias

__all__ = [
    "AttributeValue",
    "Attributes",
    "Event",
    "InstrumentationScope",
    "Link",
    "Resource",
    "Span",
    "SpanKind",
    "StatusCode",
    "Trace",
    "is_valid_span_id",
    "is_valid_trace_id",
]

AttributeValue: TypeAlias = (
    "str | bool | int | float | bytes | list[AttributeValue] | dict[str, AttributeValue] | None"
)
"""An OTLP ``AnyValue``: scalars, arrays (``list``) and key/value lists (``dict``)."""

Attributes: TypeAlias = Mapping[str, AttributeValue]

SERVICE_NAME = "service.name"
UNKNOWN_SERVICE = "unknown_service"

_HEX_DIGITS = frozenset("0123456789abcdef")


class SpanKind(IntEnum):
    """OTLP span kinds, with OTLP's numbers."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(IntEnum):
    """OTLP status codes, with OTLP's numbers."""

    UNSET = 0
    OK = 1
    ERROR = 2


def _is_hex_id(value: str, length: int) -> bool:
    return len(value) == length and _HEX_DIGITS.issuperset(value) and value != "0" * length


def is_valid_trace_id(value: str) -> bool:
    """32 lowercase hex digits, not all zero (W3C Trace Context)."""
    return _is_hex_id(value, 32)


def is_valid_span_id(value: str) -> bool:
    """16 lowercase hex digits, not all zero (W3C Trace Context)."""
    return _is_hex_id(value, 16)


@dataclass(frozen=True, slots=True)
class Resource:
    """The entity that produced spans: ``service.name``, host, process, ..."""

    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0
    schema_url: str = ""

    @property
    def service_name(self) -> str:
        name = self.attributes.get(SERVICE_NAME)
        return name if isinstance(name, str) and name else UNKNOWN_SERVICE


@dataclass(frozen=True, slots=True)
class InstrumentationScope:
    """The library that created spans (OTLP ``InstrumentationScope``)."""

    name: str = ""
    version: str = ""
    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0
    schema_url: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    """A timestamped annotation on a span; exceptions are events named ``exception``."""

    time_unix_nano: int
    name: str
    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0


@dataclass(frozen=True, slots=True)
class Link:
    """A reference from a span to a span of another (or the same) trace."""

    trace_id: str
    span_id: str
    trace_state: str = ""
    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0
    flags: int = 0


@dataclass(frozen=True, slots=True)
class Span:
    """One operation in a trace, with everything OTLP carries about it."""

    trace_id: str
    span_id: str
    name: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    parent_span_id: str = ""
    kind: SpanKind = SpanKind.UNSPECIFIED
    attributes: Attributes = field(default_factory=dict)
    status_code: StatusCode = StatusCode.UNSET
    status_message: str = ""
    resource: Resource = field(default_factory=Resource)
    scope: InstrumentationScope = field(default_factory=InstrumentationScope)
    events: tuple[Event, ...] = ()
    links: tuple[Link, ...] = ()
    trace_state: str = ""
    flags: int = 0
    dropped_attributes_count: int = 0
    dropped_events_count: int = 0
    dropped_links_count: int = 0

    @property
    def service_name(self) -> str:
        return self.resource.service_name

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_time_unix_nano - self.start_time_unix_nano)

    @property
    def is_error(self) -> bool:
        return self.status_code is StatusCode.ERROR

    @property
    def is_root(self) -> bool:
        return not self.parent_span_id


@dataclass(frozen=True, slots=True)
class Trace:
    """The stored spans of one trace id, ordered by start time then span id: all of them,
    or the earliest when a read had a span limit (``omitted_span_count`` more are stored)."""

    trace_id: str
    spans: tuple[Span, ...]
    omitted_span_count: int = 0

    @property
    def total_span_count(self) -> int:
        """How many spans the trace has in storage, read or not."""
        return len(self.spans) + self.omitted_span_count

    @property
    def start_time_unix_nano(self) -> int:
        return min(s.start_time_unix_nano for s in self.spans)

    @property
    def end_time_unix_nano(self) -> int:
        return max(s.end_time_unix_nano for s in self.spans)

    @property
    def duration_ns(self) -> int:
        return self.end_time_unix_nano - self.start_time_unix_nano
