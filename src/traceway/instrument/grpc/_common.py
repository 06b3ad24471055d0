"""Names, attributes, status mapping and metadata carriers shared by the gRPC interceptors."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeAlias
from urllib.parse import unquote

import grpc
from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span

MetadataValue: TypeAlias = str | bytes
Metadatum: TypeAlias = tuple[str, MetadataValue]
MetadataLike: TypeAlias = Iterable[tuple[str, MetadataValue]] | None

RequestHook: TypeAlias = Callable[[Span, Any, Sequence[Metadatum]], None]
"""`(span, request, metadata)`: called once per call as it starts; request is None for streams."""

ResponseHook: TypeAlias = Callable[[Span, Any], None]
"""`(span, response)`: called once per successful call with a single response message."""

DEFAULT_EXCLUDED_METHODS: Final = frozenset(
    {
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }
)
"""Methods traced by nobody by default: health checks and server reflection."""

OK: Final[int] = 0
CANCELLED: Final[int] = grpc.StatusCode.CANCELLED.value[0]
UNKNOWN: Final[int] = grpc.StatusCode.UNKNOWN.value[0]
DEADLINE_EXCEEDED: Final[int] = grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
INTERNAL: Final[int] = grpc.StatusCode.INTERNAL.value[0]
UNIMPLEMENTED: Final[int] = grpc.StatusCode.UNIMPLEMENTED.value[0]

# Server spans are errors only for these codes; client spans for every non-OK code.
SERVER_ERROR_CODES: Final[frozenset[int]] = frozenset(
    code.value[0]
    for code in (
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    )
)

_CODE_VALUES: Final[dict[grpc.StatusCode, int]] = {code: code.value[0] for code in grpc.StatusCode}


def code_value(code: grpc.StatusCode | int | None) -> int:
    """The numeric gRPC status code; None (nothing set) means OK."""
    if code is None:
        return OK
    if isinstance(code, int):
        return code
    return _CODE_VALUES.get(code, UNKNOWN)


def method_name(method: str | bytes) -> str:
    """`/pkg.Service/Method` (str or bytes) as `pkg.Service/Method`."""
    if isinstance(method, bytes):
        method = method.decode("utf-8", "replace")
    return method[1:] if method.startswith("/") else method


def split_method(name: str) -> tuple[str | None, str]:
    """`pkg.Service/Method` as (`pkg.Service`, `Method`); (None, name) when it has no service."""
    service, slash, method = name.rpartition("/")
    if not slash or not service or not method:
        return None, name
    return service, method


def normalize_exclusions(methods: Iterable[str] | None) -> frozenset[str]:
    """Exclusions as bare `pkg.Service/Method` or `pkg.Service` (every method of it)."""
    if methods is None:
        return DEFAULT_EXCLUDED_METHODS
    return frozenset(method_name(m) for m in methods)


def _host_port(hostport: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
    else:
        return hostport, None
    return host, int(port) if port.isdigit() else None


def parse_target(target: str) -> tuple[str | None, int | None]:
    """Server address and port of a channel target such as `dns:///host:50051`."""
    scheme, sep, rest = target.partition(":")
    if sep and scheme in ("unix", "unix-abstract"):
        return (rest[2:] if rest.startswith("//") else rest) or None, None
    if sep and rest.startswith("//"):
        # scheme://authority/endpoint: the endpoint names the server.
        target = rest[2:].partition("/")[2]
    elif sep and scheme in ("dns", "ipv4", "ipv6"):
        target = rest
    host, port = _host_port(target.split(",")[0])
    return host or None, port


def parse_peer(peer: str) -> tuple[str | None, int | None]:
    """Address and port of a `context.peer()` such as `ipv4:127.0.0.1:5000` or `ipv6:[::1]:5000`."""
    kind, sep, rest = peer.partition(":")
    if not sep:
        return None, None
    if "%" in rest:
        rest = unquote(rest)
    if kind in ("unix", "unix-abstract"):
        return rest or None, None
    host, port = _host_port(rest)
    return host or None, port


class _MetadataGetter(Getter[Sequence[Metadatum]]):
    """Reads text values from metadata pairs, keeping repeated keys."""

    def get(self, carrier: Sequence[Metadatum], key: str) -> list[str] | None:
        values = [v for k, v in carrier if k == key and isinstance(v, str)]
        return values or None

    def keys(self, carrier: Sequence[Metadatum]) -> list[str]:
        return [k for k, _ in carrier]


_GETTER: Final = _MetadataGetter()


def extract_context(metadata: Sequence[Metadatum] | None) -> Context:
    """The remote parent, tracestate and baggage carried by incoming metadata."""
    return propagate.extract(metadata or (), getter=_GETTER)


def with_propagation(metadata: MetadataLike, context: Context) -> list[Metadatum]:
    """Outgoing metadata plus the propagator's headers, which replace stale copies of themselves."""
    headers: dict[str, str] = {}
    propagate.inject(headers, context=context)
    injected: list[Metadatum] = [(key.lower(), value) for key, value in headers.items()]
    if not metadata:
        return injected
    owned = {key for key, _ in injected}
    pairs: list[Metadatum] = [(k, v) for k, v in metadata if k not in owned]
    pairs.extend(injected)
    return pairs
