"""A gRPC service traced with traceway.instrument, for the backend-down test.

Prints its port, then serves until SIGTERM; the OTLP endpoint comes from OTEL_* variables.
"""

from __future__ import annotations

import signal
import sys
import threading
from concurrent import futures
from typing import Any

import grpc

from traceway import instrument
from traceway.instrument.grpc import server_interceptor

SERVICE = "demo.Greeter"


def greet(request: bytes, context: Any) -> bytes:
    with instrument.traced("compose greeting"):
        return b"hello " + request


def main() -> None:
    instrument.configure("greeter")
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), interceptors=[server_interceptor()]
    )
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                SERVICE, {"Greet": grpc.unary_unary_rpc_method_handler(greet)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(port, flush=True)
    stopped.wait(120)
    server.stop(2).wait()
    sys.exit(0)


if __name__ == "__main__":
    main()
