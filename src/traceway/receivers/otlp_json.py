"""OTLP/JSON, the ``application/json`` body of OTLP/HTTP, to and from protobuf messages.

It is protobuf's JSON mapping (``json_format``) with the deviations the OTLP
specification makes: trace and span ids are case-insensitive hex, not base64; enums are
integers; unknown fields are ignored. 64-bit integers are read as numbers or strings
and written as strings, so JavaScript readers keep every digit of a nanosecond time.
The protobuf parser also accepts the original snake_case field names, so id rewriting
looks at both spellings.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = ["request_from_json", "request_to_json"]

_SPAN_ID_KEYS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")
_LINK_ID_KEYS = ("traceId", "trace_id", "spanId", "span_id")
# An id that is not hex becomes one byte, a length no id may have, so decoding rejects
# just that span (partial success) as it does ids of the wrong length.
_NOT_HEX = b"\x00"


def request_from_json(body: bytes | str) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON export request; ``ValueError`` says what is wrong with it.

    An id that is not hex does not fail the request: it comes out one byte long, an
    invalid length, so that ``decode_request`` rejects only its span.
    """
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    except RecursionError:
        raise ValueError("body is JSON nested too deeply") from None
    if not isinstance(document, dict):
        raise ValueError("body is not a JSON object")
    _rewrite_ids(document, _hex_to_base64)
    try:
        return json_format.ParseDict(
            document, ExportTraceServiceRequest(), ignore_unknown_fields=True
        )
    except json_format.ParseError as exc:
        raise ValueError(f"body is not an OTLP/JSON ExportTraceServiceRequest: {exc}") from exc


def request_to_json(request: ExportTraceServiceRequest) -> bytes:
    """The OTLP/JSON form of ``request``: hex ids, integer enums, camelCase keys."""
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    _rewrite_ids(document, _base64_to_hex)
    return json.dumps(document, separators=(",", ":")).encode()


def _hex_to_base64(value: str) -> str:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = _NOT_HEX
    return base64.b64encode(raw).decode("ascii")


def _base64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def _rewrite_ids(document: dict[str, Any], convert: Callable[[str], str]) -> None:
    """Replace every span and link id string in ``document`` by ``convert(id)``.

    Values of the wrong JSON type are left for the protobuf parser to report.
    """
    for holder, keys in _id_holders(document):
        for key in keys:
            value = holder.get(key)
            if isinstance(value, str):
                holder[key] = convert(value)


def _id_holders(document: dict[str, Any]) -> Iterator[tuple[dict[str, Any], tuple[str, ...]]]:
    for resource_spans in _children(document, "resourceSpans", "resource_spans"):
        for scope_spans in _children(resource_spans, "scopeSpans", "scope_spans"):
            for span in _children(scope_spans, "spans"):
                yield span, _SPAN_ID_KEYS
                for link in _children(span, "links"):
                    yield link, _LINK_ID_KEYS


def _children(parent: dict[str, Any], *keys: str) -> Iterator[dict[str, Any]]:
    for key in keys:
        items = parent.get(key)
        if isinstance(items, list):
            yield from (item for item in items if isinstance(item, dict))
