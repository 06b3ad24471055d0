"""Zipkin v2 proto3 (``POST /api/v2/spans`` with ``application/x-protobuf``) read into
``ZipkinSpan``s.

The schema is ``zipkin.proto`` of openzipkin/zipkin-api (package ``zipkin.proto3``),
declared here as a descriptor and decoded by protobuf itself. It lives in a private
descriptor pool, so it cannot clash with a generated ``zipkin_pb2`` that a Zipkin
library may have put in the default pool of the same process.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from google.protobuf.message import DecodeError, Message

from traceway.receivers.otlp_decode import DecodedSpans
from traceway.receivers.zipkin_decode import (
    RejectedZipkinSpan,
    ZipkinDecodeError,
    ZipkinEndpoint,
    ZipkinSpan,
    decode_spans,
)

__all__ = ["ZIPKIN_PROTO", "decode_protobuf"]

# zipkin.proto, field for field (numbers and types are the wire format).
ZIPKIN_PROTO = """
name: "traceway/zipkin.proto"
package: "zipkin.proto3"
syntax: "proto3"
message_type {
  name: "Span"
  field { name: "trace_id" number: 1 label: LABEL_OPTIONAL type: TYPE_BYTES }
  field { name: "parent_id" number: 2 label: LABEL_OPTIONAL type: TYPE_BYTES }
  field { name: "id" number: 3 label: LABEL_OPTIONAL type: TYPE_BYTES }
  field { name: "kind" number: 4 label: LABEL_OPTIONAL type: TYPE_ENUM
          type_name: ".zipkin.proto3.Span.Kind" }
  field { name: "name" number: 5 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "timestamp" number: 6 label: LABEL_OPTIONAL type: TYPE_FIXED64 }
  field { name: "duration" number: 7 label: LABEL_OPTIONAL type: TYPE_UINT64 }
  field { name: "local_endpoint" number: 8 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".zipkin.proto3.Endpoint" }
  field { name: "remote_endpoint" number: 9 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".zipkin.proto3.Endpoint" }
  field { name: "annotations" number: 10 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".zipkin.proto3.Annotation" }
  field { name: "tags" number: 11 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".zipkin.proto3.Span.TagsEntry" }
  field { name: "debug" number: 12 label: LABEL_OPTIONAL type: TYPE_BOOL }
  field { name: "shared" number: 13 label: LABEL_OPTIONAL type: TYPE_BOOL }
  nested_type {
    name: "TagsEntry"
    field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
    options { map_entry: true }
  }
  enum_type {
    name: "Kind"
    value { name: "SPAN_KIND_UNSPECIFIED" number: 0 }
    value { name: "CLIENT" number: 1 }
    value { name: "SERVER" number: 2 }
    value { name: "PRODUCER" number: 3 }
    value { name: "CONSUMER" number: 4 }
  }
}
message_type {
  name: "Endpoint"
  field { name: "service_name" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "ipv4" number: 2 label: LABEL_OPTIONAL type: TYPE_BYTES }
  field { name: "ipv6" number: 3 label: LABEL_OPTIONAL type: TYPE_BYTES }
  field { name: "port" number: 4 label: LABEL_OPTIONAL type: TYPE_INT32 }
}
message_type {
  name: "Annotation"
  field { name: "timestamp" number: 1 label: LABEL_OPTIONAL type: TYPE_FIXED64 }
  field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
}
message_type {
  name: "ListOfSpans"
  field { name: "spans" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".zipkin.proto3.Span" }
}
"""

_KIND_NAMES = {1: "CLIENT", 2: "SERVER", 3: "PRODUCER", 4: "CONSUMER"}


def _build_list_of_spans() -> type[Message]:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(text_format.Parse(ZIPKIN_PROTO, descriptor_pb2.FileDescriptorProto()))
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("zipkin.proto3.ListOfSpans"))


_LIST_OF_SPANS = _build_list_of_spans()


def decode_protobuf(body: bytes) -> DecodedSpans:
    """Decode a Zipkin ``ListOfSpans`` protobuf body into spans."""
    message: Any = _LIST_OF_SPANS()
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        raise ZipkinDecodeError(
            f"body is not a protobuf zipkin.proto3.ListOfSpans ({exc}); "
            "send Zipkin v2 proto3 with Content-Type application/x-protobuf"
        ) from exc
    return decode_spans(message.spans, _record)


def _id(raw: bytes, sizes: tuple[int, ...], field_name: str) -> str:
    if raw and len(raw) not in sizes:
        raise RejectedZipkinSpan(f"a {field_name} of {len(raw)} bytes (must be {sizes})")
    return raw.hex()


def _address(raw: bytes) -> str:
    if len(raw) not in (4, 16):
        return ""
    return str(ipaddress.ip_address(raw))


def _endpoint(message: Any, present: bool) -> ZipkinEndpoint | None:
    if not present:
        return None
    return ZipkinEndpoint(
        service_name=message.service_name,
        ipv4=_address(message.ipv4),
        ipv6=_address(message.ipv6),
        port=message.port,
    )


def _record(span: Any) -> ZipkinSpan:
    return ZipkinSpan(
        trace_id=_id(span.trace_id, (8, 16), "trace_id"),
        id=_id(span.id, (8,), "id"),
        parent_id=_id(span.parent_id, (8,), "parent_id"),
        name=span.name,
        kind=_KIND_NAMES.get(span.kind, ""),
        timestamp=span.timestamp,
        duration=span.duration,
        local_endpoint=_endpoint(span.local_endpoint, span.HasField("local_endpoint")),
        remote_endpoint=_endpoint(span.remote_endpoint, span.HasField("remote_endpoint")),
        annotations=tuple((a.timestamp, a.value) for a in span.annotations),
        tags=dict(span.tags),
        shared=span.shared,
    )
