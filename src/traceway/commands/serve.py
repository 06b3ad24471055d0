"""``traceway serve``: run the whole backend until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import platformdirs

from traceway import __version__
from traceway.commands import options
from traceway.files import write_atomically
from traceway.pipeline.commit import DEFAULT_MAX_QUEUE_SPANS
from traceway.pipeline.limits import (
    DEFAULT_MAX_ATTRIBUTE_LENGTH,
    DEFAULT_MAX_ATTRIBUTES,
    DEFAULT_MAX_EVENTS,
    DEFAULT_MAX_LINKS,
    SpanLimits,
)
from traceway.pipeline.redaction import (
    DEFAULT_REDACTED_KEY_PARTS,
    DEFAULT_REDACTED_KEYS,
    RedactionRules,
)
from traceway.pipeline.retention import RetentionPolicy
from traceway.pipeline.value_patterns import custom_pattern
from traceway.query.span_limit import DEFAULT_MAX_TRACE_SPANS
from traceway.receivers.decode_pool import default_decode_workers
from traceway.server import (
    DEFAULT_MAX_REQUEST_BYTES,
    BoundAddresses,
    ConfigError,
    ServeConfig,
    TracewayServer,
)
from traceway.storage import StorageError

__all__ = ["add_parser", "default_data_dir", "run"]


def default_data_dir() -> Path:
    """``TRACEWAY_DATA_DIR``, else the per-user data directory (e.g. ~/.local/share/traceway)."""
    configured = os.environ.get("TRACEWAY_DATA_DIR")
    return Path(configured) if configured else Path(platformdirs.user_data_dir("traceway"))


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the trace backend: OTLP receivers, DuckDB store, Jaeger-compatible API",
        description="Run the trace backend in one process: OTLP/gRPC and OTLP/HTTP receivers, "
        "Jaeger (Thrift over HTTP and UDP) and Zipkin (v2 JSON and proto3) receivers, "
        "an embedded DuckDB store and a Jaeger-compatible HTTP API.",
    )
    where = serve.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"directory of the DuckDB file (default: $TRACEWAY_DATA_DIR or {default_data_dir()})",
    )
    where.add_argument(
        "--memory", action="store_true", help="keep traces in memory only (lost on exit)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument(
        "--otlp-grpc-port", type=options.port, default=4317, help="OTLP/gRPC port (4317)"
    )
    serve.add_argument(
        "--otlp-http-port", type=options.port, default=4318, help="OTLP/HTTP port (4318)"
    )
    serve.add_argument("--port", type=options.port, default=16686, help="API port (16686)")
    legacy = serve.add_argument_group(
        "Jaeger and Zipkin clients",
        "Receivers for services that report with Jaeger or Zipkin libraries; all on by "
        "default at the ports those clients send to. PORT may be 0 (any free port) or "
        "'off'.",
    )
    legacy.add_argument(
        "--jaeger-thrift-http-port",
        type=_port_or_off,
        default=14268,
        metavar="PORT",
        help="Jaeger collector HTTP, POST /api/traces with Thrift (14268)",
    )
    legacy.add_argument(
        "--jaeger-agent-compact-port",
        type=_port_or_off,
        default=6831,
        metavar="PORT",
        help="Jaeger agent UDP, Thrift compact protocol (6831)",
    )
    legacy.add_argument(
        "--jaeger-agent-binary-port",
        type=_port_or_off,
        default=6832,
        metavar="PORT",
        help="Jaeger agent UDP, Thrift binary protocol (6832)",
    )
    legacy.add_argument(
        "--zipkin-port",
        type=_port_or_off,
        default=9411,
        metavar="PORT",
        help="Zipkin, POST /api/v2/spans with JSON or proto3 (9411)",
    )
    legacy.add_argument(
        "--no-jaeger", action="store_true", help="turn off the three Jaeger receivers"
    )
    legacy.add_argument("--no-zipkin", action="store_true", help="turn off the Zipkin receiver")
    serve.add_argument(
        "--max-request-size",
        type=options.size,
        default=DEFAULT_MAX_REQUEST_BYTES,
        help="largest export accepted, after decompression (64MiB)",
    )
    serve.add_argument(
        "--max-queue-spans",
        type=options.count,
        default=DEFAULT_MAX_QUEUE_SPANS,
        help="spans waiting to be stored before exports get 'retry later' "
        f"({DEFAULT_MAX_QUEUE_SPANS:,})",
    )
    serve.add_argument(
        "--max-trace-spans",
        type=options.count,
        default=os.environ.get("TRACEWAY_MAX_TRACE_SPANS") or str(DEFAULT_MAX_TRACE_SPANS),
        metavar="N",
        help="spans of one trace the UI and API read, the earliest by start time; a trace "
        "with more says so (or $TRACEWAY_MAX_TRACE_SPANS) "
        f"({DEFAULT_MAX_TRACE_SPANS:,})",
    )
    serve.add_argument(
        "--decode-workers",
        type=options.count_or_zero,
        default=os.environ.get("TRACEWAY_DECODE_WORKERS") or str(default_decode_workers()),
        metavar="N",
        help="processes that decode the large OTLP exports the native decoder leaves to "
        "Python (OTLP/JSON, list values, ...); 0 decodes them in the server process "
        f"(or $TRACEWAY_DECODE_WORKERS; default: the CPUs, "
        f"{default_decode_workers()})",
    )
    serve.add_argument(
        "--retention",
        type=options.duration,
        default=None,
        help="delete traces whose last span is older than this (7d, 12h, 2w); default: keep all",
    )
    serve.add_argument(
        "--max-db-size",
        type=options.size,
        default=None,
        help="delete the oldest traces while the store takes more than this (e.g. 10GiB)",
    )
    _add_limit_options(serve)
    _add_redaction_options(serve)
    security = serve.add_argument_group(
        "security",
        "Tokens come from the environment, never from flags (which other users can see): "
        "TRACEWAY_INGEST_TOKEN guards every receiver, TRACEWAY_UI_TOKEN the UI and API.",
    )
    security.add_argument(
        "--tls-cert",
        type=Path,
        default=_env_path("TRACEWAY_TLS_CERT"),
        help="PEM certificate: serve every TCP listener over TLS (or $TRACEWAY_TLS_CERT)",
    )
    security.add_argument(
        "--tls-key",
        type=Path,
        default=_env_path("TRACEWAY_TLS_KEY"),
        help="PEM private key of --tls-cert (or $TRACEWAY_TLS_KEY)",
    )
    security.add_argument(
        "--insecure",
        action="store_true",
        help="allow listening beyond 127.0.0.1 without both tokens",
    )
    serve.add_argument(
        "--ready-file",
        type=Path,
        default=None,
        help="once listening, write the bound ports there as JSON (for supervisors and tests)",
    )


def _add_limit_options(serve: argparse.ArgumentParser) -> None:
    limits = serve.add_argument_group(
        "limits",
        "What one span may carry. Beyond a limit nothing is refused: extra attributes, "
        "events and links are dropped and counted (otel.dropped_*_count), values cut and "
        "listed in traceway.truncated_attributes. N may be 0 or 'off' for no limit; each "
        "flag falls back on the TRACEWAY_ variable of its name (TRACEWAY_MAX_EVENTS_PER_SPAN).",
    )
    for flag, default, what in (
        ("max-attributes-per-span", DEFAULT_MAX_ATTRIBUTES, "attributes of a span, "
         "and of each event, link, resource and scope; the first ones stay"),
        ("max-attribute-length", DEFAULT_MAX_ATTRIBUTE_LENGTH, "characters of a string "
         "value (bytes of a bytes value), also inside lists and maps"),
        ("max-events-per-span", DEFAULT_MAX_EVENTS, "events of a span; the latest stay"),
        ("max-links-per-span", DEFAULT_MAX_LINKS, "links of a span; the latest stay"),
    ):  # fmt: skip
        variable = "TRACEWAY_" + flag.upper().replace("-", "_")
        limits.add_argument(
            f"--{flag}",
            type=_limit,
            default=os.environ.get(variable) or str(default),
            metavar="N",
            help=f"{what} ({default})",
        )


def _add_redaction_options(serve: argparse.ArgumentParser) -> None:
    redaction = serve.add_argument_group(
        "redaction",
        "Masks values as ***, before anything is stored, in the attributes of spans, "
        "events, links, resources and scopes; the key stays, and the span gets "
        "traceway.redacted_count. By default the values of the keys "
        f"{', '.join(DEFAULT_REDACTED_KEYS)} and of keys containing "
        f"{', '.join(DEFAULT_REDACTED_KEY_PARTS)} (any case; numbers kept) are masked.",
    )
    redaction.add_argument(
        "--redact-key",
        action="append",
        default=_env_list("TRACEWAY_REDACT_KEYS", ","),
        metavar="KEY",
        help="also mask the value of KEY, any case; repeatable "
        "(or $TRACEWAY_REDACT_KEYS, comma-separated)",
    )
    redaction.add_argument(
        "--no-default-redaction",
        action="store_true",
        default=_env_flag("TRACEWAY_NO_DEFAULT_REDACTION"),
        help="mask only what --redact-key and the value options ask for "
        "(or $TRACEWAY_NO_DEFAULT_REDACTION=1)",
    )
    redaction.add_argument(
        "--redact-emails",
        action="store_true",
        default=_env_flag("TRACEWAY_REDACT_EMAILS"),
        help="mask e-mail addresses inside values and status messages "
        "(or $TRACEWAY_REDACT_EMAILS=1)",
    )
    redaction.add_argument(
        "--redact-card-numbers",
        action="store_true",
        default=_env_flag("TRACEWAY_REDACT_CARD_NUMBERS"),
        help="mask payment card numbers (13-19 digits passing the Luhn check) "
        "(or $TRACEWAY_REDACT_CARD_NUMBERS=1)",
    )
    redaction.add_argument(
        "--redact-pattern",
        action="append",
        type=_pattern,
        default=_env_list("TRACEWAY_REDACT_PATTERNS", "\n"),
        metavar="REGEX",
        help="mask what the Python regular expression matches inside values; repeatable "
        "(or $TRACEWAY_REDACT_PATTERNS, one per line)",
    )


def _limit(text: str) -> int | None:
    """A limit: a positive whole number, or 0 or ``off`` for none."""
    if text.strip().lower() in ("0", "off"):
        return None
    try:
        return options.count(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a limit (a positive whole number, or 0 or 'off' for none)"
        ) from None


def _pattern(text: str) -> str:
    try:
        custom_pattern(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_list(name: str, separator: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(separator) if item.strip()]


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _port_or_off(text: str) -> int | None:
    """A port as ``options.port`` reads it, or ``off`` (also ``-1``) for no receiver."""
    if text.strip().lower() in ("off", "-1"):
        return None
    try:
        return options.port(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port number (0-65535; 0 = any free) or 'off'"
        ) from None


def _redaction_from(args: argparse.Namespace) -> RedactionRules:
    defaults = not args.no_default_redaction
    try:
        return RedactionRules(
            keys=(*(DEFAULT_REDACTED_KEYS if defaults else ()), *args.redact_key),
            key_parts=DEFAULT_REDACTED_KEY_PARTS if defaults else (),
            emails=args.redact_emails,
            card_numbers=args.redact_card_numbers,
            patterns=tuple(args.redact_pattern),
        )
    except ValueError as exc:  # from $TRACEWAY_REDACT_PATTERNS, which argparse does not check
        raise ConfigError(str(exc)) from exc


def config_from(args: argparse.Namespace) -> ServeConfig:
    """The server configuration the parsed flags describe."""
    jaeger = not args.no_jaeger
    return ServeConfig(
        data_dir=None if args.memory else (args.data_dir or default_data_dir()),
        host=args.host,
        otlp_grpc_port=args.otlp_grpc_port,
        otlp_http_port=args.otlp_http_port,
        port=args.port,
        jaeger_thrift_http_port=args.jaeger_thrift_http_port if jaeger else None,
        jaeger_agent_compact_port=args.jaeger_agent_compact_port if jaeger else None,
        jaeger_agent_binary_port=args.jaeger_agent_binary_port if jaeger else None,
        zipkin_port=None if args.no_zipkin else args.zipkin_port,
        max_request_bytes=args.max_request_size,
        max_queue_spans=args.max_queue_spans,
        max_trace_spans=args.max_trace_spans,
        decode_workers=args.decode_workers,
        ingest_token=os.environ.get("TRACEWAY_INGEST_TOKEN") or None,
        ui_token=os.environ.get("TRACEWAY_UI_TOKEN") or None,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        insecure=args.insecure,
        limits=SpanLimits(
            max_attributes=args.max_attributes_per_span,
            max_attribute_length=args.max_attribute_length,
            max_events=args.max_events_per_span,
            max_links=args.max_links_per_span,
        ),
        redaction=_redaction_from(args),
        retention=RetentionPolicy(max_age_ns=args.retention, max_bytes=args.max_db_size),
    )


def run(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_serve(config_from(args), args.ready_file))
    except (OSError, StorageError, ConfigError) as exc:
        print(f"traceway: {exc}", file=sys.stderr)
        return 1
    return 0


# Names the variable; holds no secret.
_HEADERS_HINT = "  export OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20$TRACEWAY_INGEST_TOKEN"


def _legacy_lines(bound: BoundAddresses) -> list[str]:
    """Where Jaeger and Zipkin clients send, for the receivers that are on."""
    lines = []
    if bound.jaeger_thrift_http_port is not None:
        lines.append(f"  Jaeger      {bound.url(bound.jaeger_thrift_http_port)}/api/traces")
    agents = [
        f"{bound.address(port)} ({protocol})"
        for port, protocol in (
            (bound.jaeger_agent_compact_port, "compact"),
            (bound.jaeger_agent_binary_port, "binary"),
        )
        if port is not None
    ]
    if agents:
        lines.append(f"  Jaeger UDP  {', '.join(agents)}")
    if bound.zipkin_port is not None:
        lines.append(f"  Zipkin      {bound.url(bound.zipkin_port)}/api/v2/spans")
    return lines


def _limits_text(limits: SpanLimits) -> str:
    parts = [
        f"{limit:,} {what}" if limit is not None else f"any number of {what}"
        for limit, what in (
            (limits.max_attributes, "attributes"),
            (limits.max_events, "events"),
            (limits.max_links, "links"),
        )
    ]
    length = limits.max_attribute_length
    parts.append(f"values of {length:,} characters" if length else "values of any length")
    return ", ".join(parts)


def _decoding_text(workers: int) -> str:
    if workers < 1:
        return "in this process"
    processes = f"{workers} worker process{'es' if workers > 1 else ''}"
    return f"{processes} for large exports the native decoder leaves"


def _redaction_text(rules: RedactionRules) -> str:
    parts = [
        f"{len(rules.keys)} keys" if rules.keys else "",
        f"keys containing {'/'.join(rules.key_parts)}" if rules.key_parts else "",
        "e-mail addresses" if rules.emails else "",
        "card numbers" if rules.card_numbers else "",
        f"{len(rules.patterns)} patterns" if rules.patterns else "",
    ]
    return ", ".join(part for part in parts if part) or "off"


def _banner(config: ServeConfig, bound: BoundAddresses) -> str:
    storage = str(config.database_path) if config.database_path else "in memory (lost on exit)"
    grpc_url = bound.url(bound.otlp_grpc_port)
    return "\n".join(
        [
            f"traceway {__version__} is running",
            f"  storage     {storage}",
            f"  OTLP/gRPC   {grpc_url}",
            f"  OTLP/HTTP   {bound.url(bound.otlp_http_port)}/v1/traces",
            *_legacy_lines(bound),
            f"  UI          {bound.url(bound.port)}",
            f"  API         {bound.url(bound.port)}/api/services (Jaeger-compatible)",
            f"  traces      up to {config.max_trace_spans:,} spans each in the UI and API",
            f"  decoding    {_decoding_text(config.decode_workers)}",
            f"  limits      {_limits_text(config.limits)} per span",
            f"  redaction   {_redaction_text(config.redaction)}",
            "",
            "Point an application at it with:",
            f"  export OTEL_EXPORTER_OTLP_ENDPOINT={grpc_url}",
            *([_HEADERS_HINT] if config.ingest_token else []),
            "Press Ctrl-C to stop.",
        ]
    )


async def _serve(config: ServeConfig, ready_file: Path | None) -> None:
    server = TracewayServer(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    bound = await server.start()
    try:
        print(_banner(config, bound), flush=True)
        if ready_file is not None:
            ready = {
                "otlp_grpc_port": bound.otlp_grpc_port,
                "otlp_http_port": bound.otlp_http_port,
                "port": bound.port,
                "jaeger_thrift_http_port": bound.jaeger_thrift_http_port,
                "jaeger_agent_compact_port": bound.jaeger_agent_compact_port,
                "jaeger_agent_binary_port": bound.jaeger_agent_binary_port,
                "zipkin_port": bound.zipkin_port,
                "pid": os.getpid(),
            }
            write_atomically(ready_file, json.dumps(ready))
        await stop.wait()
        print("traceway: stopping; storing what was accepted ...", file=sys.stderr, flush=True)
    finally:
        await server.stop()
    print("traceway: stopped", file=sys.stderr, flush=True)
