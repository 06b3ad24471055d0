"""OTLP/HTTP receiver: ``POST /v1/traces`` with protobuf or JSON, optionally gzipped.

Responses use the request's content type, as the OTLP/HTTP specification asks:
an ``ExportTraceServiceResponse`` on success (with ``partial_success`` when spans
were rejected), a ``google.rpc.Status`` on failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from traceway.pipeline.api import RejectedSpansError, RetryLaterError, SpanConsumer
from traceway.receivers.http_body import (
    BodyError,
    BodyTooLargeError,
    media_type,
    read_request_body,
    retry_after_header,
)
from traceway.receivers.otlp_decode import (
    DecodedSpans,
    OtlpDecodeError,
    decode_json,
    decode_protobuf,
    export_response,
)

__all__ = ["create_otlp_http_app"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

_DECODERS: dict[str, Callable[[bytes], DecodedSpans]] = {
    PROTOBUF: decode_protobuf,
    JSON: decode_json,
}


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


def create_otlp_http_app(consumer: SpanConsumer, *, max_request_bytes: int) -> Starlette:
    """The ASGI app of the OTLP/HTTP receiver."""

    async def export_traces(request: Request) -> Response:
        content_type = media_type(request)
        decode = _DECODERS.get(content_type)
        if decode is None:
            return _failure(
                415,
                code_pb2.INVALID_ARGUMENT,
                f"unsupported Content-Type {content_type or '(none)'!r}; send {PROTOBUF} or {JSON}",
                JSON,
            )
        try:
            body = await read_request_body(request, max_request_bytes)
            # CPU work on a worker thread keeps the event loop (and the API) responsive.
            decoded = await run_in_threadpool(decode, body)
        except BodyTooLargeError as exc:
            return _failure(413, code_pb2.RESOURCE_EXHAUSTED, str(exc), content_type)
        except (BodyError, OtlpDecodeError) as exc:
            return _failure(400, code_pb2.INVALID_ARGUMENT, str(exc), content_type)
        try:
            await consumer.consume(decoded.spans)
        except RetryLaterError as exc:
            return _failure(
                503,
                code_pb2.UNAVAILABLE,
                str(exc),
                content_type,
                headers=retry_after_header(exc.retry_after_s),
            )
        except RejectedSpansError as exc:
            return _failure(400, code_pb2.INVALID_ARGUMENT, str(exc), content_type)
        return Response(
            _encode(export_response(decoded), content_type),
            media_type=content_type,
        )

    return Starlette(routes=[Route("/v1/traces", export_traces, methods=["POST"])])
