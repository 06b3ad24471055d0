"""Real OTLP receivers for the instrument tests, and the ``spans`` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.instrument.otlp_receiver import (
    OTLPReceiver,
    start_grpc_receiver,
    start_http_receiver,
)
from traceway.testing import spans  # noqa: F401  (the fixture, until the pytest11 entry point)


@pytest.fixture
def otlp_receiver() -> Iterator[OTLPReceiver]:
    """An OTLP/gRPC receiver (traces and metrics) on an ephemeral 127.0.0.1 port."""
    receiver, server = start_grpc_receiver()
    yield receiver
    server.stop(grace=None)


@pytest.fixture
def otlp_http_receiver() -> Iterator[OTLPReceiver]:
    """An OTLP/HTTP (protobuf) receiver for traces on an ephemeral 127.0.0.1 port."""
    receiver, server = start_http_receiver()
    yield receiver
    server.shutdown()
    server.server_close()
