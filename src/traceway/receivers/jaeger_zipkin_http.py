"""HTTP receivers for Jaeger and Zipkin clients, each on its own port as in Jaeger and Zipkin.

* Jaeger collector: ``POST /api/traces`` with a Thrift binary ``Batch``
  (``application/x-thrift`` or ``application/vnd.apache.thrift.binary``).
* Zipkin: ``POST /api/v2/spans`` with v2 JSON (``application/json``, also when no
  Content-Type is sent, as Zipkin accepts) or proto3 (``application/x-protobuf``).

Both answer as Jaeger and Zipkin do, ``202 Accepted`` with no body, and otherwise
as traceway's OTLP receiver does: 400 for a body that does not decode, 413 past the
size limit, 415 for another Content-Type, 503 with ``Retry-After`` when the pipeline
is full. Errors are plain text. Neither protocol can report partial success, so
when some spans are rejected the 202 body names them, and when all are, the answer
is 400.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from traceway.pipeline.api import RejectedSpansError, RetryLaterError, SpanConsumer
from traceway.receivers.http_body import (
    BodyError,
    BodyTooLargeError,
    media_type,
    read_request_body,
    retry_after_header,
)
from traceway.receivers.jaeger_decode import spans_from_batch
from traceway.receivers.jaeger_thrift import JaegerDecodeError, decode_batch
from traceway.receivers.otlp_decode import DecodedSpans
from traceway.receivers.zipkin_decode import ZipkinDecodeError
from traceway.receivers.zipkin_json import decode_json
from traceway.receivers.zipkin_proto import decode_protobuf

__all__ = ["create_jaeger_http_app", "create_zipkin_http_app"]

Decoder = Callable[[bytes], DecodedSpans]

THRIFT = "application/x-thrift"
THRIFT_BINARY = "application/vnd.apache.thrift.binary"
JSON = "application/json"
PROTOBUF = "application/x-protobuf"


def _decode_jaeger(body: bytes) -> DecodedSpans:
    return spans_from_batch(decode_batch(body))


def _upload_endpoint(
    consumer: SpanConsumer,
    decoders: Mapping[str, Decoder],
    max_request_bytes: int,
) -> Callable[[Request], Awaitable[Response]]:
    accepted = " or ".join(sorted(key for key in decoders if key))

    async def upload(request: Request) -> Response:
        content_type = media_type(request)
        decode = decoders.get(content_type)
        if decode is None:
            return PlainTextResponse(
                f"unsupported Content-Type {content_type or '(none)'!r}; send {accepted}", 415
            )
        try:
            body = await read_request_body(request, max_request_bytes)
            # CPU work on a worker thread keeps the event loop (and the API) responsive.
            decoded = await run_in_threadpool(decode, body)
        except BodyTooLargeError as exc:
            return PlainTextResponse(str(exc), 413)
        except (BodyError, JaegerDecodeError, ZipkinDecodeError) as exc:
            return PlainTextResponse(str(exc), 400)
        if decoded.rejected_spans and not decoded.spans:
            return PlainTextResponse(decoded.error_message, 400)
        try:
            await consumer.consume(decoded.spans)
        except RetryLaterError as exc:
            return PlainTextResponse(str(exc), 503, headers=retry_after_header(exc.retry_after_s))
        except RejectedSpansError as exc:
            return PlainTextResponse(str(exc), 400)
        return PlainTextResponse(decoded.error_message, 202)

    return upload


def create_jaeger_http_app(consumer: SpanConsumer, *, max_request_bytes: int) -> Starlette:
    """The ASGI app of the Jaeger collector endpoint (port 14268)."""
    decoders = {THRIFT: _decode_jaeger, THRIFT_BINARY: _decode_jaeger}
    upload = _upload_endpoint(consumer, decoders, max_request_bytes)
    return Starlette(routes=[Route("/api/traces", upload, methods=["POST"])])


def create_zipkin_http_app(consumer: SpanConsumer, *, max_request_bytes: int) -> Starlette:
    """The ASGI app of the Zipkin endpoint (port 9411)."""
    decoders = {JSON: decode_json, "": decode_json, PROTOBUF: decode_protobuf}
    upload = _upload_endpoint(consumer, decoders, max_request_bytes)
    return Starlette(routes=[Route("/api/v2/spans", upload, methods=["POST"])])
