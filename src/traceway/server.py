"""``traceway serve``: receivers, pipeline, storage and API in one process and one event loop.

Start order is storage → pipeline → API → receivers (OTLP, then Jaeger and Zipkin),
and stop order the reverse, so that no export is accepted before it can be stored
and every accepted export is committed before the store closes.

Receivers hand spans to redaction, then to limits, then to the commit pipeline.
Redaction comes first so that it sees every value whole: a limit that cut an e-mail
address or a card number in two would keep the pattern from matching the rest.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Scope

from traceway.access import TokenAuth, is_loopback
from traceway.api.app import create_api_app
from traceway.api.errors import error_response
from traceway.http_listener import HttpListener, listen_tcp
from traceway.pipeline.api import SpanConsumer
from traceway.pipeline.commit import DEFAULT_MAX_QUEUE_SPANS, CommitPipeline
from traceway.pipeline.limits import SpanLimiter, SpanLimits
from traceway.pipeline.processing import SpanProcessor, chain
from traceway.pipeline.redaction import RedactionRules, Redactor
from traceway.pipeline.retention import RetentionPolicy, RetentionTask
from traceway.pipeline.span_rewrite import screen_specs
from traceway.query.service import QueryService
from traceway.query.span_limit import DEFAULT_MAX_TRACE_SPANS
from traceway.receivers.decode_pool import DecodePool, InlineDecoder, SpanDecoder
from traceway.receivers.jaeger_agent import JaegerAgentReceiver
from traceway.receivers.jaeger_thrift import AgentProtocol
from traceway.receivers.jaeger_zipkin_http import create_jaeger_http_app, create_zipkin_http_app
from traceway.receivers.otlp_grpc import OtlpGrpcReceiver
from traceway.receivers.otlp_http import create_otlp_http_app
from traceway.storage import open_store

__all__ = ["BoundAddresses", "ConfigError", "ServeConfig", "TracewayServer"]

log = logging.getLogger(__name__)

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
DATABASE_FILE = "traceway.duckdb"


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """Everything ``traceway serve`` can be told; ports of 0 mean any free port, and a
    receiver whose port is ``None`` is off."""

    data_dir: Path | None
    host: str = "127.0.0.1"
    otlp_grpc_port: int = 4317
    otlp_http_port: int = 4318
    port: int = 16686
    jaeger_thrift_http_port: int | None = 14268
    jaeger_agent_compact_port: int | None = 6831
    jaeger_agent_binary_port: int | None = 6832
    zipkin_port: int | None = 9411
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_queue_spans: int = DEFAULT_MAX_QUEUE_SPANS
    max_trace_spans: int = DEFAULT_MAX_TRACE_SPANS
    decode_workers: int = 0  # processes for what the C decoder leaves; 0: threads of this one
    ingest_token: str | None = None
    ui_token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure: bool = False
    limits: SpanLimits = field(default_factory=SpanLimits)
    redaction: RedactionRules = field(default_factory=RedactionRules)
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)

    def check(self) -> None:
        """Refuse settings that would expose traces or take spans from anyone."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("TLS needs both --tls-cert and --tls-key")
        for path in (self.tls_cert, self.tls_key):
            if path is not None and not path.is_file():
                raise ConfigError(f"TLS file {path} does not exist")
        unauthenticated = [
            name
            for name, token in (("TRACEWAY_INGEST_TOKEN", self.ingest_token),
                                ("TRACEWAY_UI_TOKEN", self.ui_token))
            if not token
        ]  # fmt: skip
        if not is_loopback(self.host) and unauthenticated and not self.insecure:
            raise ConfigError(
                f"refusing to listen on {self.host} without authentication: set "
                f"{' and '.join(unauthenticated)} (and --tls-cert/--tls-key), "
                "or pass --insecure if the network itself is trusted"
            )

    def processors(self) -> list[SpanProcessor]:
        """The processors between receivers and storage, in order: redaction, limits."""
        processors: list[SpanProcessor] = []
        if self.redaction.enabled:
            processors.append(Redactor(self.redaction))
        if self.limits.enabled:
            processors.append(SpanLimiter(self.limits))
        return processors

    @property
    def database_path(self) -> Path | None:
        return None if self.data_dir is None else self.data_dir / DATABASE_FILE


@dataclass(frozen=True, slots=True)
class BoundAddresses:
    """Where the running server listens."""

    host: str
    otlp_grpc_port: int
    otlp_http_port: int
    port: int
    jaeger_thrift_http_port: int | None = None
    jaeger_agent_compact_port: int | None = None
    jaeger_agent_binary_port: int | None = None
    zipkin_port: int | None = None
    tls: bool = False

    def address(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{port}"

    def url(self, port: int) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address(port)}"


class ConfigError(ValueError):
    """The configuration cannot be served as it is; the message says what to change."""


def _port_hint(exc: OSError, option: str) -> OSError:
    """The Jaeger and Zipkin receivers are on by default: say how to move or drop one."""
    return OSError(f"{exc} (use --{option} PORT for another port, 0 for any free one, or off)")


def _guarded_ingest(app: ASGIApp, token: str | None) -> ASGIApp:
    """A receiver's ``app`` behind the ingest token, if one is set."""
    if token is None:
        return app
    return TokenAuth(app, token, realm="traceway ingest", allow_basic=False)


def _guarded_reads(app: ASGIApp, token: str | None) -> ASGIApp:
    """The UI and API behind the UI token, if one is set: a browser may answer with Basic
    auth; a refusal is shaped as the app's other errors (``_read_refusal``)."""
    if token is None:
        return app
    return TokenAuth(
        app,
        token,
        realm="traceway UI and API",
        allow_basic=True,
        refusal=_read_refusal,
    )


def _read_refusal(scope: Scope, message: str) -> Response:
    """Jaeger's error envelope under ``/api/``, plain text for the UI's pages, as the
    API's other errors (``api.errors``)."""
    if scope["path"].startswith("/api/"):
        return error_response(401, message)
    return PlainTextResponse(message, status_code=401)


class TracewayServer:
    """The whole backend; ``start`` returns where it listens, ``stop`` drains and closes."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self._stack = contextlib.AsyncExitStack()
        self.pipeline: CommitPipeline | None = None

    async def start(self) -> BoundAddresses:
        config = self.config
        try:
            return await self._start(config)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, config: ServeConfig) -> BoundAddresses:
        config.check()
        processors = config.processors()
        if config.data_dir is not None:
            config.data_dir.mkdir(parents=True, exist_ok=True)
        store = open_store(config.database_path)
        self._stack.callback(store.close)

        pipeline = CommitPipeline(store, max_queue_spans=config.max_queue_spans)
        pipeline.start()
        self._stack.push_async_callback(pipeline.shutdown)
        self.pipeline = pipeline
        retention = RetentionTask(store, config.retention)
        retention.start()
        self._stack.push_async_callback(retention.stop)  # stops before the pipeline drains
        ingest = chain(processors, pipeline)
        decoder = await self._start_decoder(config.decode_workers, processors)

        ingest_token, ui_token = config.ingest_token, config.ui_token
        query = QueryService(store, max_trace_spans=config.max_trace_spans)
        # The API's handlers run on starlette's thread pool: the first call imports its
        # event loop backend and starts a thread (~25 ms), better here than in a request.
        await run_in_threadpool(query.get_services)
        api_port = await self._start_http(
            _guarded_reads(create_api_app(query), ui_token), config.port
        )
        otlp_http = create_otlp_http_app(
            ingest, max_request_bytes=config.max_request_bytes, decoder=decoder
        )
        otlp_http_port = await self._start_http(
            _guarded_ingest(otlp_http, ingest_token), config.otlp_http_port
        )
        otlp_grpc = OtlpGrpcReceiver(
            ingest,
            max_request_bytes=config.max_request_bytes,
            token=ingest_token,
            tls=self._tls(),
            decoder=decoder,
        )
        grpc_port = await otlp_grpc.start(config.host, config.otlp_grpc_port)
        self._stack.push_async_callback(otlp_grpc.stop)

        jaeger_http_port = zipkin_port = None
        if config.jaeger_thrift_http_port is not None:
            app = create_jaeger_http_app(ingest, max_request_bytes=config.max_request_bytes)
            jaeger_http_port = await self._start_http(
                _guarded_ingest(app, ingest_token),
                config.jaeger_thrift_http_port,
                "jaeger-thrift-http-port",
            )
        if config.zipkin_port is not None:
            app = create_zipkin_http_app(ingest, max_request_bytes=config.max_request_bytes)
            zipkin_port = await self._start_http(
                _guarded_ingest(app, ingest_token), config.zipkin_port, "zipkin-port"
            )
        compact_port = binary_port = None
        if ingest_token is None:  # a UDP datagram cannot carry the token
            compact_port = await self._start_agent(
                ingest, AgentProtocol.COMPACT, config.jaeger_agent_compact_port
            )
            binary_port = await self._start_agent(
                ingest, AgentProtocol.BINARY, config.jaeger_agent_binary_port
            )
        elif (config.jaeger_agent_compact_port, config.jaeger_agent_binary_port) != (None, None):
            log.info("Jaeger agent UDP ports stay off: UDP cannot carry TRACEWAY_INGEST_TOKEN")

        return BoundAddresses(
            host=config.host,
            otlp_grpc_port=grpc_port,
            otlp_http_port=otlp_http_port,
            port=api_port,
            jaeger_thrift_http_port=jaeger_http_port,
            jaeger_agent_compact_port=compact_port,
            jaeger_agent_binary_port=binary_port,
            zipkin_port=zipkin_port,
            tls=self._tls() is not None,
        )

    async def _start_decoder(self, workers: int, processors: list[SpanProcessor]) -> SpanDecoder:
        """The OTLP receivers' decoder, which also runs the processors' screens; a pool
        stops after the receivers, before the pipeline."""
        screens = screen_specs(processors)
        if workers < 1:
            return InlineDecoder(screens)
        pool = DecodePool(workers, screens=screens)
        await pool.start()
        self._stack.push_async_callback(pool.stop)
        return pool

    def _tls(self) -> tuple[Path, Path] | None:
        cert, key = self.config.tls_cert, self.config.tls_key
        return None if cert is None or key is None else (cert, key)

    async def _start_http(self, app: ASGIApp, port: int, option: str | None = None) -> int:
        try:
            sock = listen_tcp(self.config.host, port)
        except OSError as exc:
            raise exc if option is None else _port_hint(exc, option) from exc
        listener = HttpListener(app, sock, tls=self._tls())
        await listener.start()
        self._stack.push_async_callback(listener.stop)
        return listener.port

    async def _start_agent(
        self, consumer: SpanConsumer, protocol: AgentProtocol, port: int | None
    ) -> int | None:
        if port is None:
            return None
        agent = JaegerAgentReceiver(
            consumer, protocol, max_datagram_bytes=self.config.max_request_bytes
        )
        try:
            bound = await agent.start(self.config.host, port)
        except OSError as exc:
            raise _port_hint(exc, f"jaeger-agent-{protocol.value}-port") from exc
        self._stack.push_async_callback(agent.stop)
        return bound

    async def stop(self) -> None:
        """Stop receivers, commit what they accepted, then close the API and the store."""
        await self._stack.aclose()
