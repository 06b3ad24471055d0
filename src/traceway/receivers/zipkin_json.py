"""Zipkin v2 JSON (``POST /api/v2/spans`` with ``application/json``) read into ``ZipkinSpan``s.

The body must be a JSON array; a span in it with a field of the wrong type is
rejected and counted, and the others are kept. Tags are strings in Zipkin's model,
but some clients send numbers and booleans: those keep their JSON types.
"""

from __future__ import annotations

import json
from typing import Any

from traceway.model import AttributeValue
from traceway.receivers.otlp_decode import DecodedSpans
from traceway.receivers.zipkin_decode import (
    RejectedZipkinSpan,
    ZipkinDecodeError,
    ZipkinEndpoint,
    ZipkinSpan,
    decode_spans,
    json_attribute,
)

__all__ = ["decode_json"]


def decode_json(body: bytes) -> DecodedSpans:
    """Decode a Zipkin v2 JSON body into spans."""
    try:
        items = json.loads(body)
    except ValueError as exc:
        raise ZipkinDecodeError(f"body is not JSON ({exc}); send a JSON array of spans") from exc
    if not isinstance(items, list):
        raise ZipkinDecodeError("body is not a JSON array of Zipkin v2 spans")
    return decode_spans(items, _record)


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RejectedZipkinSpan(f"a {key} that is not a string")
    return value


def _integer(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RejectedZipkinSpan(f"a {key} that is not a non-negative integer")
    return value


def _object(obj: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, dict):
        raise RejectedZipkinSpan(f"a {key} that is not an object")
    return value


def _endpoint(obj: dict[str, Any], key: str) -> ZipkinEndpoint | None:
    endpoint = _object(obj, key)
    if endpoint is None:
        return None
    port = _integer(endpoint, "port")
    return ZipkinEndpoint(
        service_name=_text(endpoint, "serviceName"),
        ipv4=_text(endpoint, "ipv4"),
        ipv6=_text(endpoint, "ipv6"),
        port=port if port <= 65535 else 0,
    )


def _tag(value: Any) -> AttributeValue:
    """Zipkin tags are flat: a list or object sent as a tag value is kept as JSON text."""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return json_attribute(value)


def _annotations(obj: dict[str, Any]) -> tuple[tuple[int, str], ...]:
    annotations = obj.get("annotations") or []
    if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
        raise RejectedZipkinSpan("annotations that are not a list of objects")
    return tuple((_integer(a, "timestamp"), _text(a, "value")) for a in annotations)


def _record(item: Any) -> ZipkinSpan:
    if not isinstance(item, dict):
        raise RejectedZipkinSpan("an array element that is not a span object")
    tags = _object(item, "tags") or {}
    shared = item.get("shared", False)
    return ZipkinSpan(
        trace_id=_text(item, "traceId"),
        id=_text(item, "id"),
        parent_id=_text(item, "parentId"),
        name=_text(item, "name"),
        kind=_text(item, "kind"),
        timestamp=_integer(item, "timestamp"),
        duration=_integer(item, "duration"),
        local_endpoint=_endpoint(item, "localEndpoint"),
        remote_endpoint=_endpoint(item, "remoteEndpoint"),
        annotations=_annotations(item),
        tags={str(key): _tag(value) for key, value in tags.items() if value is not None},
        shared=shared is True,
    )
