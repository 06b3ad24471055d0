"""How span data looks to a tag search: the text form of attribute values and derived tags.

Tags in a ``TraceQuery`` are text, attribute values are typed, so every backend
compares the query text with one agreed text form of the value:

* ``str`` as is; ``bool`` as ``true``/``false``; ``int`` in decimal;
  ``float`` as Python's ``repr`` (``1.5``, ``1e+20``, ``nan``, ``inf``);
* ``bytes`` as standard base64 with padding (what OTLP/JSON and Jaeger show);
* lists and dicts as compact JSON (``[1,"a",true]``, ``{"k":1.5}``), bytes inside
  them as base64 strings;
* ``None`` has no text form and matches no tag.

Derived tags exist on every span that qualifies: ``span.kind`` (``server``,
``client``, ``producer``, ``consumer``, ``internal``; none when unspecified),
``error`` = ``true`` on ERROR status, ``otel.status_code`` = ``OK`` or ``ERROR``
(none when unset).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from types import MappingProxyType

from traceway.model import AttributeValue, SpanKind, StatusCode

__all__ = ["SPAN_KIND_TAG", "STATUS_CODE_TAG", "derived_tags", "tag_text"]

SPAN_KIND_TAG: Mapping[SpanKind, str] = MappingProxyType(
    {kind: kind.name.lower() for kind in SpanKind if kind is not SpanKind.UNSPECIFIED}
)
"""Value of the derived ``span.kind`` tag per kind."""

STATUS_CODE_TAG: Mapping[StatusCode, str] = MappingProxyType(
    {StatusCode.OK: "OK", StatusCode.ERROR: "ERROR"}
)
"""Value of the derived ``otel.status_code`` tag per status code."""


def _json_default(value: object) -> object:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"attribute value of type {type(value).__name__} has no text form")


def tag_text(value: AttributeValue) -> str | None:
    """The text a tag search compares with ``value``, or None if it matches nothing."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def derived_tags(kind: SpanKind, status_code: StatusCode) -> dict[str, str]:
    """The tags a span has from its kind and status, beside its attributes."""
    tags: dict[str, str] = {}
    if kind in SPAN_KIND_TAG:
        tags["span.kind"] = SPAN_KIND_TAG[kind]
    if status_code is StatusCode.ERROR:
        tags["error"] = "true"
    if status_code in STATUS_CODE_TAG:
        tags["otel.status_code"] = STATUS_CODE_TAG[status_code]
    return tags
