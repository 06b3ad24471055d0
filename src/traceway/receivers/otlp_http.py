"""OTLP/HTTP receiver: ``POST /v1/traces`` with protobuf or JSON, optionally gzipped.

Responses use the request's content type, as the OTLP/HTTP specification asks:
an ``ExportTraceServiceResponse`` on success (with ``partial_success`` when spans
were rejected), a ``google.rpc.Status`` on failure.
"""

from __future__ import annotations

import json

from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from traceway.pipeline.api import RejectedSpansError, RetryLaterError, SpanConsumer
from traceway.receivers.decode_pool import BodyFormat, InlineDecoder, SpanDecoder
from traceway.receivers.http_body import (
    BodyError,
    BodyTooLargeError,
    media_type,
    read_request_body,
    retry_after_header,
)
from traceway.receivers.otlp_decode import OtlpDecodeError, export_response

__all__ = ["create_otlp_http_app"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

_BODY_FORMATS: dict[str, BodyFormat] = {PROTOBUF: "protobuf", JSON: "json"}


def _encode(message: Message, content_type: str) -> bytes:
    if content_type == JSON:
        return json.dumps(json_format.MessageToDict(message)).encode()
    return message.SerializeToString()


def _failure(
    http_status: int,
    rpc_code: int,
    message: str,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> Response:
    status = status_pb2.Status(code=rpc_code, message=message)
    return Response(
        _encode(status, content_type),
        status_code=http_status,
        media_type=content_type,
        headers=headers,
    )


def _retry_later(exc: RetryLaterError, content_type: str) -> Response:
    return _failure(
        503,
        code_pb2.UNAVAILABLE,
        str(exc),
        content_type,
        headers=retry_after_header(exc.retry_after_s),
    )


def create_otlp_http_app(
    consumer: SpanConsumer, *, max_request_bytes: int, decoder: SpanDecoder | None = None
) -> Starlette:
    """The ASGI app of the OTLP/HTTP receiver; bodies are decoded by ``decoder`` (a
    ``DecodePool``, or by default on a thread of this process)."""
    span_decoder = decoder if decoder is not None else InlineDecoder()

    async def export_traces(request: Request) -> Response:
        content_type = media_type(request)
        body_format = _BODY_FORMATS.get(content_type)
        if body_format is None:
            return _failure(
                415,
                code_pb2.INVALID_ARGUMENT,
                f"unsupported Content-Type {content_type or '(none)'!r}; send {PROTOBUF} or {JSON}",
                JSON,
            )
        try:
            body = await read_request_body(request, max_request_bytes)
            # CPU work off the event loop keeps it (and the API) responsive.
            decoded = await span_decoder.decode(body, body_format)
        except BodyTooLargeError as exc:
            return _failure(413, code_pb2.RESOURCE_EXHAUSTED, str(exc), content_type)
        except (BodyError, OtlpDecodeError) as exc:
            return _failure(400, code_pb2.INVALID_ARGUMENT, str(exc), content_type)
        except RetryLaterError as exc:
            return _retry_later(exc, content_type)
        try:
            await consumer.consume(decoded.spans)
        except RetryLaterError as exc:
            return _retry_later(exc, content_type)
        except RejectedSpansError as exc:
            return _failure(400, code_pb2.INVALID_ARGUMENT, str(exc), content_type)
        return Response(
            _encode(export_response(decoded), content_type),
            media_type=content_type,
        )

    return Starlette(routes=[Route("/v1/traces", export_traces, methods=["POST"])])
