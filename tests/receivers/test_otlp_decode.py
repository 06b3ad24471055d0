"""Decoding what real OpenTelemetry SDKs send, and what broken clients send."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource as SdkResource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import traceway.receivers.otlp_decode as otlp_decode
from traceway.model import SpanKind, StatusCode
from traceway.receivers.otlp_decode import (
    OtlpDecodeError,
    decode_protobuf,
    decode_request,
    export_response,
)
from traceway.receivers.otlp_encode import encode_request

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


def sdk_provider(exporter: InMemorySpanExporter, service: str) -> TracerProvider:
    provider = TracerProvider(
        resource=SdkResource.create({"service.name": service, "deployment.environment": "test"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def checkout_spans(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, ...]:
    """A server span with a failing client child and a consumer span linked to it."""
    tracer = sdk_provider(exporter, "checkout").get_tracer(
        "shop.orders",
        "1.2.3",
        schema_url="https://opentelemetry.io/schemas/1.26.0",
        attributes={"scope.tier": 1},
    )
    with tracer.start_as_current_span(
        "GET /orders",
        kind=otel_trace.SpanKind.SERVER,
        attributes={
            "http.route": "/orders",
            "http.status_code": 500,
            "big": 2**62,
            "sampled": True,
            "ratio": 0.25,
            "tags": ["a", "b"],
            "ports": [80, 443],
        },
    ) as root:
        with tracer.start_as_current_span("SELECT orders", kind=otel_trace.SpanKind.CLIENT) as db:
            db.add_event("retry", {"attempt": 2})
            db.record_exception(ValueError("connection reset"))
            db.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, "connection reset"))
        tracer.start_span(
            "process order",
            kind=otel_trace.SpanKind.CONSUMER,
            links=[otel_trace.Link(root.get_span_context(), {"link.reason": "follows"})],
        ).end()
    return exporter.get_finished_spans()


def request_of(*spans: trace_pb2.Span) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])]
    )


def test_sdk_spans_keep_ids_times_kinds_and_typed_attributes(
    exporter: InMemorySpanExporter,
) -> None:
    sdk = {s.name: s for s in checkout_spans(exporter)}
    decoded = decode_protobuf(encode_spans(list(sdk.values())).SerializeToString())

    assert decoded.rejected_spans == 0
    spans = {s.name: s for s in decoded.spans}
    assert spans.keys() == sdk.keys()
    root, db, consumer = spans["GET /orders"], spans["SELECT orders"], spans["process order"]
    sdk_root = sdk["GET /orders"].get_span_context()
    assert sdk_root is not None

    assert root.trace_id == f"{sdk_root.trace_id:032x}"
    assert root.span_id == f"{sdk_root.span_id:016x}"
    assert root.is_root
    assert db.parent_span_id == root.span_id
    assert db.trace_id == root.trace_id
    assert root.start_time_unix_nano == sdk["GET /orders"].start_time
    assert root.end_time_unix_nano == sdk["GET /orders"].end_time
    assert (root.kind, db.kind, consumer.kind) == (
        SpanKind.SERVER,
        SpanKind.CLIENT,
        SpanKind.CONSUMER,
    )

    assert root.attributes == {
        "http.route": "/orders",
        "http.status_code": 500,
        "big": 2**62,
        "sampled": True,
        "ratio": 0.25,
        "tags": ["a", "b"],
        "ports": [80, 443],
    }
    # Equality alone would let 1 == True == 1.0 through: the types must survive too.
    assert {k: type(v) for k, v in root.attributes.items()} == {
        "http.route": str,
        "http.status_code": int,
        "big": int,
        "sampled": bool,
        "ratio": float,
        "tags": list,
        "ports": list,
    }

    assert db.is_error
    assert db.status_message == "connection reset"
    assert root.status_code is StatusCode.UNSET
    assert [e.name for e in db.events] == ["retry", "exception"]
    assert db.events[0].attributes == {"attempt": 2}
    assert db.events[1].attributes["exception.type"] == "ValueError"
    assert db.events[1].attributes["exception.message"] == "connection reset"

    (link,) = consumer.links
    assert (link.trace_id, link.span_id) == (root.trace_id, root.span_id)
    assert link.attributes == {"link.reason": "follows"}

    assert root.service_name == "checkout"
    assert root.resource.attributes["deployment.environment"] == "test"
    assert root.scope.name == "shop.orders"
    assert root.scope.version == "1.2.3"
    assert root.scope.schema_url == "https://opentelemetry.io/schemas/1.26.0"
    assert root.scope.attributes == {"scope.tier": 1}


def test_reencoding_decoded_sdk_spans_gives_the_sdk_request(
    exporter: InMemorySpanExporter,
) -> None:
    checkout_spans(exporter)
    other = sdk_provider(exporter, "shipping")
    for tracer_name in ("shipping.api", "shipping.db", "shipping.api"):
        other.get_tracer(tracer_name).start_span(f"work in {tracer_name}").end()
    sdk_request = encode_spans(exporter.get_finished_spans())
    assert len(sdk_request.resource_spans) == 2

    assert encode_request(decode_request(sdk_request).spans) == sdk_request


def test_every_attribute_value_type_survives() -> None:
    nested = KeyValueList(
        values=[
            KeyValue(key="inner", value=AnyValue(array_value=ArrayValue(values=[AnyValue()]))),
        ]
    )
    attributes = [
        KeyValue(key="s", value=AnyValue(string_value="")),
        KeyValue(key="b", value=AnyValue(bool_value=False)),
        KeyValue(key="i", value=AnyValue(int_value=-(2**63))),
        KeyValue(key="d", value=AnyValue(double_value=-0.5)),
        KeyValue(key="raw", value=AnyValue(bytes_value=b"\x00\xff")),
        KeyValue(key="unset", value=AnyValue()),
        KeyValue(
            key="mixed",
            value=AnyValue(
                array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue(string_value="1")])
            ),
        ),
        KeyValue(key="map", value=AnyValue(kvlist_value=nested)),
    ]
    span = trace_pb2.Span(trace_id=TRACE_ID, span_id=SPAN_ID, attributes=attributes)

    (decoded,) = decode_request(request_of(span)).spans

    assert repr(dict(decoded.attributes)) == repr(
        {
            "s": "",
            "b": False,
            "i": -(2**63),
            "d": -0.5,
            "raw": b"\x00\xff",
            "unset": None,
            "mixed": [1, "1"],
            "map": {"inner": [None]},
        }
    )


def test_spans_with_unusable_ids_are_rejected_and_the_rest_kept() -> None:
    good = trace_pb2.Span(trace_id=TRACE_ID, span_id=SPAN_ID, name="good")
    request = request_of(
        good,
        trace_pb2.Span(trace_id=TRACE_ID[:8], span_id=SPAN_ID, name="64-bit trace id"),
        trace_pb2.Span(trace_id=bytes(16), span_id=SPAN_ID, name="zero trace id"),
        trace_pb2.Span(trace_id=TRACE_ID, span_id=bytes(8), name="zero span id"),
        trace_pb2.Span(trace_id=TRACE_ID, span_id=SPAN_ID, parent_span_id=b"\x01\x02"),
        trace_pb2.Span(
            trace_id=TRACE_ID, span_id=SPAN_ID, links=[trace_pb2.Span.Link(trace_id=b"\x01")]
        ),
    )

    decoded = decode_request(request)

    assert [s.name for s in decoded.spans] == ["good"]
    assert decoded.rejected_spans == 5
    message = decoded.error_message
    assert message.startswith("rejected 5 span(s)")
    assert "2 with an invalid trace_id" in message
    assert "1 with an invalid span_id" in message
    assert "1 with an invalid parent_span_id" in message
    assert "1 with an invalid link trace_id" in message

    response = export_response(decoded)
    assert response.partial_success.rejected_spans == 5
    assert response.partial_success.error_message == message


def test_a_fully_accepted_request_leaves_partial_success_unset() -> None:
    decoded = decode_request(request_of(trace_pb2.Span(trace_id=TRACE_ID, span_id=SPAN_ID)))

    assert len(decoded.spans) == 1
    assert not export_response(decoded).HasField("partial_success")


def test_all_zero_parent_and_link_ids_mean_absent() -> None:
    span = trace_pb2.Span(
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        parent_span_id=bytes(8),
        links=[
            trace_pb2.Span.Link(
                trace_id=bytes(16),
                span_id=bytes(8),
                trace_state="vendor=x",
                attributes=[KeyValue(key="why", value=AnyValue(string_value="batch"))],
            )
        ],
    )

    (decoded,) = decode_request(request_of(span)).spans

    assert decoded.is_root
    (link,) = decoded.links
    assert (link.trace_id, link.span_id, link.trace_state) == ("", "", "vendor=x")


def test_kinds_and_status_codes_newer_than_traceway_read_as_unspecified() -> None:
    span = trace_pb2.Span(
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        kind=trace_pb2.Span.SpanKind.ValueType(9),
        status=trace_pb2.Status(code=trace_pb2.Status.StatusCode.ValueType(7), message="?"),
    )

    (decoded,) = decode_request(request_of(span)).spans

    assert decoded.kind is SpanKind.UNSPECIFIED
    assert decoded.status_code is StatusCode.UNSET
    assert decoded.status_message == "?"


def test_an_empty_body_is_an_empty_successful_export() -> None:
    decoded = decode_protobuf(b"")

    assert decoded.spans == ()
    assert decoded.rejected_spans == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xff\xff\xff\xff", id="garbage"),
        pytest.param(b'{"resourceSpans": []}', id="json-sent-as-protobuf"),
        pytest.param(
            request_of(trace_pb2.Span(trace_id=TRACE_ID, span_id=SPAN_ID, name="x"))
            .SerializeToString()
            .replace(b"\x01x", b"\x01\xff"),
            id="invalid-utf8-name",
        ),
    ],
)
def test_a_body_that_is_not_a_request_is_a_permanent_error(body: bytes) -> None:
    with pytest.raises(OtlpDecodeError, match="not a protobuf ExportTraceServiceRequest"):
        decode_protobuf(body)


def _length_delimited(field_number: int, payload: bytes) -> bytes:
    size, varint = len(payload), bytearray()
    while True:
        byte, size = size & 0x7F, size >> 7
        varint.append(byte | (0x80 if size else 0))
        if not size:
            return bytes([field_number << 3 | 2]) + bytes(varint) + payload


def test_attribute_values_nested_past_the_parser_limit_are_a_permanent_error() -> None:
    value = b""
    for _ in range(500):  # AnyValue.array_value -> ArrayValue.values -> AnyValue ...
        value = _length_delimited(5, _length_delimited(1, value))
    span = (
        _length_delimited(1, TRACE_ID)
        + _length_delimited(2, SPAN_ID)
        + _length_delimited(9, _length_delimited(1, b"deep") + _length_delimited(2, value))
    )
    body = _length_delimited(1, _length_delimited(2, _length_delimited(2, span)))

    with pytest.raises(OtlpDecodeError):
        decode_protobuf(body)


def test_public_surface() -> None:
    assert sorted(otlp_decode.__all__) == [
        "DecodedSpans",
        "OtlpDecodeError",
        "decode_json",
        "decode_native",
        "decode_protobuf",
        "decode_protobuf_python",
        "decode_request",
        "export_response",
    ]
    assert issubclass(OtlpDecodeError, ValueError)
