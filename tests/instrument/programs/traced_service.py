"""A service that calls traceway.instrument.configure(), makes spans, and ends as told.

Run by tests/instrument/test_configure.py in a subprocess:
``python traced_service.py MODE``; the OTLP endpoint and options come from OTEL_* variables.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import time

from opentelemetry import metrics, trace

from traceway import instrument


def _work(name: str) -> None:
    with instrument.traced(name, pid=os.getpid()), instrument.traced(f"{name} step"):
        pass


def _wait_for_sigterm() -> None:
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)
    sys.exit("no SIGTERM within 60s")


def _mp_child() -> None:
    _work("mp child work")
    print(f"child pid {os.getpid()}", flush=True)


def main(mode: str) -> None:
    if mode == "sigterm-chained":

        def app_handler(signum: int, frame: object) -> None:
            print("app handler ran", flush=True)
            os._exit(3)  # skips atexit: only a flush before this handler saves the spans

        signal.signal(signal.SIGTERM, app_handler)
    elif mode == "foreign-provider":
        from opentelemetry.sdk.trace import TracerProvider

        trace.set_tracer_provider(TracerProvider())

    handle = instrument.configure(service_version="1.2.3", environment="test")
    _work("work")

    if mode in ("exit", "foreign-provider"):
        return
    if mode in ("sigterm", "sigterm-chained"):
        _wait_for_sigterm()
    elif mode == "fork":
        handle.force_flush()  # the parent's exporter connects before the fork
        pid = os.fork()
        if pid == 0:
            # As a pre-forking server's post-fork hook would: the same call, another pid.
            again = instrument.configure(service_version="1.2.3", environment="test")
            print(f"child configure same handle {again is handle}", flush=True)
            _work("child work")
            print(f"child pid {os.getpid()}", flush=True)
            sys.exit(0)
        os.waitpid(pid, 0)
        _work("parent after fork")
    elif mode == "multiprocessing":
        handle.force_flush()
        child = multiprocessing.get_context("fork").Process(target=_mp_child)
        child.start()
        child.join()
        _work("parent after fork")
    elif mode == "metrics":
        meter = metrics.get_meter("traced_service")
        meter.create_histogram("rpc.server.duration", unit="ms").record(3.5)
    elif mode == "logs":
        logger = logging.getLogger("orders")
        with instrument.traced("place order"):
            logger.warning("inside")
        logger.warning("outside")
    elif mode == "twice":
        again = instrument.configure(service_version="1.2.3", environment="test")
        print(f"same handle {again is handle}", flush=True)
        try:
            instrument.configure(service_version="9.9.9", environment="test")
        except instrument.ConfigurationError as exc:
            print(f"refused: {exc}", flush=True)
        print(f"provider is global {trace.get_tracer_provider() is handle.tracer_provider}")
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1])
