"""OTLP/gRPC receiver: ``opentelemetry.proto.collector.trace.v1.TraceService/Export``.

It only decodes and validates; the spans go to a ``SpanConsumer`` and the export is
answered once the consumer has committed them.
"""

from __future__ import annotations

from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from traceway.access import token_matches
from traceway.http_listener import listen_tcp
from traceway.pipeline.api import RejectedSpansError, RetryLaterError, SpanConsumer
from traceway.receivers.decode_pool import InlineDecoder, SpanDecoder
from traceway.receivers.otlp_decode import OtlpDecodeError, export_response

__all__ = ["OtlpGrpcReceiver"]

_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class _TraceService:
    """The Export method; it takes raw bytes so that a body that does not parse is
    answered INVALID_ARGUMENT with the reason, not gRPC's generic INTERNAL."""

    def __init__(self, consumer: SpanConsumer, token: str | None, decoder: SpanDecoder) -> None:
        self._consumer = consumer
        self._token = token
        self._decoder = decoder

    async def export(
        self, body: bytes, context: grpc.aio.ServicerContext[bytes, ExportTraceServiceResponse]
    ) -> ExportTraceServiceResponse:
        if self._token is not None:
            metadata = context.invocation_metadata() or ()
            authorization = next((str(v) for k, v in metadata if k == "authorization"), "")
            if not token_matches(authorization, self._token):
                await context.abort(
                    grpc.StatusCode.UNAUTHENTICATED,
                    "missing or wrong ingest token: send 'authorization: Bearer <token>' metadata",
                )
        try:
            # CPU work off the event loop keeps it (and the API) responsive.
            decoded = await self._decoder.decode(body, "protobuf")
        except OtlpDecodeError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except RetryLaterError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        try:
            await self._consumer.consume(decoded.spans)
        except RetryLaterError as exc:
            # UNAVAILABLE is retryable for every OTLP exporter; nothing was stored.
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        except RejectedSpansError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return export_response(decoded)

    def handler(self) -> grpc.GenericRpcHandler[bytes, ExportTraceServiceResponse]:
        return grpc.method_handlers_generic_handler(
            _SERVICE,
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    self.export,
                    request_deserializer=None,
                    response_serializer=ExportTraceServiceResponse.SerializeToString,
                )
            },
        )


class OtlpGrpcReceiver:
    """A ``grpc.aio`` server that accepts OTLP trace exports."""

    def __init__(
        self,
        consumer: SpanConsumer,
        *,
        max_request_bytes: int,
        token: str | None = None,
        tls: tuple[Path, Path] | None = None,
        decoder: SpanDecoder | None = None,
    ) -> None:
        """``decoder`` decodes the bodies: a ``DecodePool``, or by default a thread."""
        self._server = grpc.aio.server(
            options=[
                # Larger messages are refused by gRPC itself with RESOURCE_EXHAUSTED.
                ("grpc.max_receive_message_length", max_request_bytes),
                ("grpc.so_reuseport", 0),
            ],
        )
        service = _TraceService(
            consumer, token, decoder if decoder is not None else InlineDecoder()
        )
        self._server.add_generic_rpc_handlers((service.handler(),))
        self._tls = tls
        self._started = False

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0 for any free port) and return the bound port."""
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if port != 0:
            # Tried first with a plain socket: where the port is taken, gRPC logs its own
            # error line and, depending on its version, returns 0 or raises RuntimeError.
            try:
                listen_tcp(host, port).close()
            except OSError as exc:
                raise OSError(f"{exc} (OTLP/gRPC)") from exc
        try:
            if self._tls is None:
                bound = self._server.add_insecure_port(address)
            else:
                cert, key = self._tls
                credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
                bound = self._server.add_secure_port(address, credentials)
        except RuntimeError as exc:  # taken in between
            raise OSError(f"cannot listen on {address} (OTLP/gRPC): {exc}") from exc
        if bound == 0:
            raise OSError(f"cannot listen on {address} (OTLP/gRPC): the port is in use")
        await self._server.start()
        self._started = True
        return bound

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop taking calls and let running exports finish (up to ``grace_s``)."""
        if self._started:
            self._started = False
            await self._server.stop(grace_s)
