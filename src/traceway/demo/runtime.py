"""What every demo process does the same way: start, say where it listens, and stop.

A process stops on SIGTERM or SIGINT, or when its supervisor goes away (the supervisor
holds the write end of the process's stdin: end of file means it is gone). Stopping
lets requests in flight finish; spans are then flushed by traceway's exit hook.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType

from traceway import instrument
from traceway.demo.faults import FaultError, FaultInjector, FaultPlan
from traceway.demo.topology import DemoProcess, address_from
from traceway.files import write_atomically

__all__ = [
    "LOG_LEVEL_VARIABLE",
    "READY_FILE_VARIABLE",
    "SUPERVISED_VARIABLE",
    "ServiceProcess",
    "write_ready_file",
]

READY_FILE_VARIABLE = "TRACEWAY_DEMO_READY_FILE"
"""Where a process writes ``{"address": "host:port", "pid": N}`` once it listens."""
SUPERVISED_VARIABLE = "TRACEWAY_DEMO_SUPERVISED"
"""Set by the supervisor: stop when stdin closes."""
LOG_LEVEL_VARIABLE = "TRACEWAY_DEMO_LOG_LEVEL"

GRACE_S = 5.0
"""How long a stopping server lets requests in flight finish."""

_logger = logging.getLogger("traceway.demo")


def write_ready_file(path: Path, address: str) -> None:
    """Write this process's ready file: its address and pid."""
    write_atomically(path, json.dumps({"address": address, "pid": os.getpid()}))


class ServiceProcess:
    """The process of one demo service: its settings, its stop signal, its readiness."""

    def __init__(
        self,
        process: DemoProcess,
        environ: Mapping[str, str] = os.environ,
        *,
        traced: bool = True,
    ) -> None:
        self.process = process
        self.environ = environ
        self.host, self.port = address_from(process, environ)
        self._stopping = threading.Event()
        self._on_stop: list[Callable[[], object]] = []
        level = environ.get(LOG_LEVEL_VARIABLE, "INFO").upper()
        # The stop handlers go first, so that configure() chains its SIGTERM flush to them.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        if traced:
            instrument.configure(process.service_name, logs="text")
            logging.getLogger().setLevel(level)
        else:
            logging.basicConfig(
                level=level,
                format=f"%(asctime)s %(levelname)s [{process.service_name}] %(name)s: %(message)s",
            )
        if environ.get(SUPERVISED_VARIABLE):
            threading.Thread(target=self._watch_supervisor, daemon=True).start()

    def faults(self) -> FaultInjector:
        """This service's faults, from ``TRACEWAY_FAULT_*``."""
        try:
            faults = FaultPlan.from_environment(self.environ).of(self.process.name)
        except FaultError as exc:
            raise SystemExit(f"{self.process.service_name}: {exc}") from None
        return FaultInjector(self.process.service_name, faults)

    def stop_event(self) -> asyncio.Event:
        """An event of the running loop, set when asked to stop."""
        event = asyncio.Event()
        loop = asyncio.get_running_loop()
        self.on_stop(lambda: loop.call_soon_threadsafe(event.set))
        return event

    def on_stop(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` (from a signal handler or a thread) when asked to stop."""
        self._on_stop.append(callback)
        if self._stopping.is_set():
            callback()

    def wait(self) -> None:
        """Block until asked to stop."""
        while not self._stopping.wait(1.0):
            pass

    def listening(self, port: int) -> None:
        """Tell the log, and the supervisor through the ready file, where this listens."""
        address = f"{self.host}:{port}"
        _logger.info("%s listening on %s", self.process.service_name, address)
        ready_file = self.environ.get(READY_FILE_VARIABLE)
        if ready_file:
            write_ready_file(Path(ready_file), address)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        for callback in self._on_stop:
            callback()

    def _watch_supervisor(self) -> None:
        # os.read, not sys.stdin: a daemon thread blocked in a buffered read holds the
        # buffer's lock, which the interpreter then cannot take at exit.
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        _logger.warning("the supervisor is gone; stopping")
        # Signal ourselves, so that stopping runs in the main thread as for Ctrl-C.
        os.kill(os.getpid(), signal.SIGTERM)
