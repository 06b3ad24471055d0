"""Pure helpers: target and peer parsing, metadata propagation, the public surface."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import traceway.instrument.grpc as instrument_grpc
from traceway.instrument.grpc._common import (
    extract_context,
    method_name,
    parse_peer,
    parse_target,
    split_method,
    with_propagation,
)


def test_public_surface() -> None:
    assert sorted(instrument_grpc.__all__) == [
        "DEFAULT_EXCLUDED_METHODS",
        "RequestHook",
        "ResponseHook",
        "aio_client_interceptors",
        "aio_server_interceptor",
        "client_interceptor",
        "server_interceptor",
    ]
    for name in instrument_grpc.__all__:
        assert getattr(instrument_grpc, name) is not None


def test_interceptors_are_what_grpc_expects() -> None:
    client = instrument_grpc.client_interceptor()
    assert isinstance(client, grpc.UnaryUnaryClientInterceptor)
    assert isinstance(client, grpc.UnaryStreamClientInterceptor)
    assert isinstance(client, grpc.StreamUnaryClientInterceptor)
    assert isinstance(client, grpc.StreamStreamClientInterceptor)
    assert isinstance(instrument_grpc.server_interceptor(), grpc.ServerInterceptor)
    assert isinstance(instrument_grpc.aio_server_interceptor(), grpc.aio.ServerInterceptor)
    kinds = [
        grpc.aio.UnaryUnaryClientInterceptor,
        grpc.aio.UnaryStreamClientInterceptor,
        grpc.aio.StreamUnaryClientInterceptor,
        grpc.aio.StreamStreamClientInterceptor,
    ]
    interceptors = instrument_grpc.aio_client_interceptors()
    # grpc.aio files each interceptor under the first kind it implements: one per kind.
    assert [next(k for k in kinds if isinstance(i, k)) for i in interceptors] == kinds


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("127.0.0.1:50051", ("127.0.0.1", 50051)),
        ("localhost:443", ("localhost", 443)),
        ("localhost", ("localhost", None)),
        ("dns:///orders.internal:50051", ("orders.internal", 50051)),
        ("dns://8.8.8.8/orders.internal:50051", ("orders.internal", 50051)),
        ("dns:orders.internal:7000", ("orders.internal", 7000)),
        ("ipv4:10.0.0.1:50051,10.0.0.2:50051", ("10.0.0.1", 50051)),
        ("ipv6:[::1]:50051", ("::1", 50051)),
        ("[2001:db8::1]:50051", ("2001:db8::1", 50051)),
        ("::1", ("::1", None)),
        ("unix:/run/orders.sock", ("/run/orders.sock", None)),
        ("unix:///run/orders.sock", ("/run/orders.sock", None)),
        ("unix:relative.sock", ("relative.sock", None)),
        ("xds:///orders", ("orders", None)),
    ],
)
def test_parse_target(target: str, expected: tuple[str | None, int | None]) -> None:
    assert parse_target(target) == expected


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        ("ipv4:127.0.0.1:54321", ("127.0.0.1", 54321)),
        ("ipv6:[::1]:54321", ("::1", 54321)),
        ("ipv6:%5B::1%5D:54321", ("::1", 54321)),
        ("ipv6:[2001:db8::7]:443", ("2001:db8::7", 443)),
        ("unix:/tmp/grpc.sock", ("/tmp/grpc.sock", None)),
        ("", (None, None)),
    ],
)
def test_parse_peer(peer: str, expected: tuple[str | None, int | None]) -> None:
    assert parse_peer(peer) == expected


def test_method_names() -> None:
    assert method_name("/pkg.Svc/Get") == "pkg.Svc/Get"
    assert method_name(b"/pkg.Svc/Get") == "pkg.Svc/Get"
    assert split_method("pkg.Svc/Get") == ("pkg.Svc", "Get")
    assert split_method("weird") == (None, "weird")
    assert split_method("/Get") == (None, "/Get")


SPAN = NonRecordingSpan(
    SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, False, TraceFlags(1))
)


def test_with_propagation_keeps_repeated_keys_and_replaces_stale_headers() -> None:
    context = trace.set_span_in_context(SPAN)
    metadata = [("x-a", "1"), ("traceparent", "00-stale"), ("x-a", "2"), ("k-bin", b"\x00")]

    pairs = with_propagation(metadata, context)

    assert pairs[:3] == [("x-a", "1"), ("x-a", "2"), ("k-bin", b"\x00")]
    assert dict(pairs[3:]) == {
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    }


def test_with_propagation_accepts_aio_metadata_and_none() -> None:
    context = trace.set_span_in_context(SPAN)

    from_aio = with_propagation(grpc.aio.Metadata(("x", "1"), ("x", "2")), context)
    from_none = with_propagation(None, context)

    assert [v for k, v in from_aio if k == "x"] == ["1", "2"]
    assert [k for k, _ in from_none] == ["traceparent"]


def test_extract_ignores_binary_values() -> None:
    context = extract_context((("traceparent", b"00-not-text"),))

    assert not trace.get_current_span(context).get_span_context().is_valid
