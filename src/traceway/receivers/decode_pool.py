"""Decode OTLP exports beside the event loop and the commit: natively, or in worker processes.

Most OTLP protobuf bodies are decoded by the C decoder (``otlp_native``), on one of the
server's ``DECODE_THREADS`` decode threads (of a lower priority than the commit thread)
and without the GIL: that is faster than a trip to another process. The rest
(OTLP/JSON, list or map values, rejected spans, among others) is pure Python work, which
on a thread of the server holds the GIL that the event loop (the API, the receivers) and
the commit thread need too. ``DecodePool`` sends such bodies of at least
``min_body_bytes`` to worker processes (``decode_worker``), which answer with the
``SpanBatch`` as Arrow IPC plus its resources, scopes and rejections; smaller bodies, for
which the trip costs more than it saves, decode on a decode thread (``InlineDecoder``).
Receivers take either as their ``SpanDecoder``.

Both also run the screens of the processors (``BatchScreens``) on each decoded batch,
which are pure functions of the batch and its configuration, so that the event loop
only applies their answers (a ``ScreenedBatch``).

Failures, as a receiver sees them:

* a body that is not OTLP raises ``OtlpDecodeError`` with the same message as inline;
* a worker that dies (killed, out of memory) is replaced and the body decoded again by
  the new one; if that one dies too, ``RetryLaterError``: the client sends it again;
* too many bytes in the pool (decoding or waiting), or a pool that is stopping:
  ``RetryLaterError``;
* a worker that takes longer than ``decode_timeout_s`` on a body is killed (and later
  replaced), and the request gets ``RetryLaterError``;
* an unexpected exception in a worker: ``DecodeWorkerError`` with its traceback.

Each worker serves one body at a time, from one thread of the pool's own, so at most
``workers`` bodies are being decoded and the rest wait; ``max_waiting_bytes`` bounds
both together.
``stop`` lets running decodes finish (up to ``grace_s``), then ends every worker;
workers also exit by themselves when the server process dies (their socket closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import pickle
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import wait
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

import pyarrow as pa

import traceway
from traceway.model import Span
from traceway.pipeline.api import RetryLaterError
from traceway.pipeline.span_rewrite import BatchScreens, ScreenSpec
from traceway.receivers.decode_worker import READY, receive_message, send_message
from traceway.receivers.otlp_decode import (
    DecodedSpans,
    OtlpDecodeError,
    decode_json,
    decode_native,
    decode_protobuf,
)
from traceway.receivers.otlp_native import NATIVE_AVAILABLE
from traceway.storage.span_batch import SpanBatch

__all__ = [
    "DECODE_THREADS",
    "DECODE_THREAD_NICENESS",
    "DEFAULT_DECODE_TIMEOUT_S",
    "DEFAULT_MAX_WAITING_BYTES",
    "DEFAULT_MIN_BODY_BYTES",
    "BodyFormat",
    "DecodePool",
    "DecodeWorkerError",
    "InlineDecoder",
    "SpanDecoder",
    "default_decode_workers",
]

BodyFormat = Literal["protobuf", "json"]

DEFAULT_MIN_BODY_BYTES = 64 * 1024
DEFAULT_MAX_WAITING_BYTES = 256 * 1024 * 1024
DEFAULT_DECODE_TIMEOUT_S = 60.0  # a 64 MiB export decodes in a few seconds
_START_TIMEOUT_S = 60.0
_RETRY_AFTER_S = 1.0
_INLINE_DECODERS: dict[BodyFormat, Callable[[bytes], DecodedSpans]] = {
    "protobuf": decode_protobuf,  # the C decoder first
    "json": decode_json,
}
_BOOTSTRAP = """\
import sys
root = sys.argv.pop(1)
if root not in sys.path:
    sys.path.insert(0, root)
from traceway.receivers.decode_worker import main
sys.exit(main(sys.argv[1:]))
"""


class SpanDecoder(Protocol):
    """What a receiver decodes export bodies with."""

    async def decode(self, body: bytes, body_format: BodyFormat) -> DecodedSpans:
        """The spans of ``body``; ``OtlpDecodeError`` if it is not an OTLP export."""
        ...


class DecodeWorkerError(RuntimeError):
    """A decode worker failed unexpectedly (a bug, not bad input); has its traceback."""


DECODE_THREADS = 2
"""Threads of the server process that decode bodies (``InlineDecoder``): what one
thread of the C decoder does is some 600,000 spans a second, so two are plenty, and
more only take cores from the commit thread, which bounds ingest."""
DECODE_THREAD_NICENESS = 5
"""How much lower the decode threads' scheduling priority is than the rest of the
server's (a niceness added to theirs, Linux only: elsewhere the niceness is the whole
process's). Decoding is upstream of the commit and has slack; the commit thread has
none, and on a busy machine the scheduler then runs it first."""


def _lower_priority() -> None:
    """Run on each new decode thread: make it nicer by ``DECODE_THREAD_NICENESS``."""
    if sys.platform.startswith("linux"):
        # On Linux, PRIO_PROCESS with 0 is the calling thread alone. Raising one's own
        # niceness needs no privilege; failing to is harmless.
        with contextlib.suppress(OSError):
            niceness = os.getpriority(os.PRIO_PROCESS, 0) + DECODE_THREAD_NICENESS
            os.setpriority(os.PRIO_PROCESS, 0, niceness)


_decode_threads: ThreadPoolExecutor | None = None
_decode_threads_lock = threading.Lock()


def _decode_executor() -> ThreadPoolExecutor:
    """The process's decode threads, started on first use, shared by every decoder,
    and joined at exit as idle threads of ``concurrent.futures`` are."""
    global _decode_threads
    with _decode_threads_lock:
        if _decode_threads is None:
            _decode_threads = ThreadPoolExecutor(
                DECODE_THREADS, "traceway-decode-inline", initializer=_lower_priority
            )
        return _decode_threads


def default_decode_workers() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class InlineDecoder:
    """Decodes (and screens, for the processors of ``screens``) on the process's decode
    threads, off the event loop: the receivers' decoder with ``--decode-workers 0``,
    and the pool's for small bodies and for the C decoder."""

    def __init__(self, screens: Iterable[ScreenSpec] = ()) -> None:
        self._screens = BatchScreens(screens)

    async def decode(self, body: bytes, body_format: BodyFormat) -> DecodedSpans:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_decode_executor(), self._decode, body, body_format)

    async def decode_natively(self, body: bytes) -> DecodedSpans | None:
        """The spans of a protobuf ``body`` if the C decoder takes it, else None."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_decode_executor(), self._decode_natively, body)

    def _decode(self, body: bytes, body_format: BodyFormat) -> DecodedSpans:
        return self._screened(_INLINE_DECODERS[body_format](body))

    def _decode_natively(self, body: bytes) -> DecodedSpans | None:
        decoded = decode_native(body)
        return None if decoded is None else self._screened(decoded)

    def _screened(self, decoded: DecodedSpans) -> DecodedSpans:
        spans = _screened(self._screens, decoded.spans)
        return decoded if spans is decoded.spans else dataclasses.replace(decoded, spans=spans)


def _screened(screens: BatchScreens, spans: Sequence[Span]) -> Sequence[Span]:
    """``spans`` as a ``ScreenedBatch`` when they are a ``SpanBatch`` and there are screens."""
    if not screens.specs or not isinstance(spans, SpanBatch):
        return spans
    return screens.screened(spans)


class _WorkerLostError(Exception):
    """The worker process died or its socket broke during a request."""


class _Worker:
    """One ``decode_worker`` process and the pool's end of its socket."""

    def __init__(self, screens: BatchScreens) -> None:
        self._screens = screens
        self._process: subprocess.Popen[bytes] | None = None
        self._connection: socket.socket | None = None
        self._ready = False

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = _START_TIMEOUT_S) -> None:
        """Start the process and wait until it is ready to decode."""
        self.launch()
        self.wait_ready(timeout_s)

    def launch(self) -> None:
        """Start the process without waiting for it to import what it needs (~0.2 s)."""
        self._ready = False
        ours, theirs = socket.socketpair()
        # Import this very traceway in the worker, wherever this process found it.
        package_root = str(Path(traceway.__file__).resolve().parents[1])
        with theirs:
            try:
                self._process = subprocess.Popen(  # noqa: S603 (this Python, fixed arguments)
                    [sys.executable, "-c", _BOOTSTRAP, package_root, str(theirs.fileno())],
                    pass_fds=[theirs.fileno()],
                    stdin=subprocess.DEVNULL,
                )
            except OSError:
                ours.close()
                raise
        self._connection = ours
        # The worker reads this first; if it is dead already, ``wait_ready`` says so.
        with contextlib.suppress(OSError):
            send_message(ours, pickle.dumps(self._screens.specs))

    def wait_ready(self, timeout_s: float = _START_TIMEOUT_S) -> None:
        """Wait for the launched process to say it is ready; ``OSError`` if it does not."""
        if self._ready:
            return
        connection, process = self._connection, self._process
        try:
            ready = (
                connection is not None
                and bool(wait([connection], timeout_s))
                and receive_message(connection) == READY
            )
        except (EOFError, OSError):
            ready = False
        if not ready:
            code = None if process is None else process.poll()
            self.stop(0)
            why = f"it was not ready within {timeout_s:g}s" if code is None else f"exit code {code}"
            raise OSError(f"cannot start a decode worker process ({why})")
        self._ready = True

    def decode(self, body_format: BodyFormat, body: bytes, timeout_s: float) -> DecodedSpans:
        """Decode ``body`` in the process; ``_WorkerLostError`` if it dies meanwhile, and
        ``RetryLaterError`` (the process killed) if it takes longer than ``timeout_s``."""
        try:
            self.wait_ready()
        except OSError as exc:
            raise _WorkerLostError(str(exc)) from exc
        connection = self._connection
        if connection is None:
            raise _WorkerLostError("not started")
        try:
            send_message(connection, body_format.encode())
            send_message(connection, body)
            if not wait([connection], timeout_s):
                self.kill()
                raise RetryLaterError(
                    f"decoding this export took longer than {timeout_s:g}s; it was stopped",
                    _RETRY_AFTER_S,
                )
            # Only the worker's own replies are unpickled; bodies are parsed as OTLP.
            reply = pickle.loads(receive_message(connection))  # noqa: S301
            if reply[0] == "spans":
                _, rejected, message, resources, scopes, screened = reply
                # The table's buffers are the received message's, not copies.
                table = pa.ipc.open_stream(pa.py_buffer(receive_message(connection))).read_all()
                batch = SpanBatch(table, resources, scopes)
                spans = self._screens.screened(batch, screened) if self._screens.specs else batch
                return DecodedSpans(spans, rejected, message)
        except (EOFError, OSError) as exc:
            raise _WorkerLostError(str(exc) or type(exc).__name__) from exc
        if reply[0] == "invalid":
            raise OtlpDecodeError(reply[1])
        raise DecodeWorkerError(f"decode worker {self.pid} failed:\n{reply[1]}")

    def kill(self) -> None:
        """End the process now and reap it (a thread busy with it sees the socket close)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self, grace_s: float) -> None:
        """Close the socket (the worker exits on it), wait up to ``grace_s``, then kill."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._process is not None:
            try:
                self._process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


class DecodePool:
    """Worker processes that decode export bodies; ``start`` before use, ``stop`` after.

    Also an async context manager. Bodies under ``min_body_bytes`` decode inline.
    """

    def __init__(
        self,
        workers: int,
        *,
        min_body_bytes: int = DEFAULT_MIN_BODY_BYTES,
        max_waiting_bytes: int = DEFAULT_MAX_WAITING_BYTES,
        decode_timeout_s: float = DEFAULT_DECODE_TIMEOUT_S,
        screens: Iterable[ScreenSpec] = (),
    ) -> None:
        """``screens``: the processors' screens to run on each decoded batch."""
        if workers < 1:
            raise ValueError("a decode pool needs at least one worker; use InlineDecoder for 0")
        batch_screens = BatchScreens(screens)
        self._workers = [_Worker(batch_screens) for _ in range(workers)]
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._threads: ThreadPoolExecutor | None = None
        self._inline = InlineDecoder(batch_screens.specs)
        self._min_body_bytes = min_body_bytes
        self._max_waiting_bytes = max_waiting_bytes
        self._decode_timeout_s = decode_timeout_s
        self._pending_bytes = 0
        self._in_flight = 0
        self._drained = asyncio.Event()
        self._closing = False
        self.replaced_workers = 0

    @property
    def worker_pids(self) -> list[int]:
        """The process ids of the running workers (for monitoring and tests)."""
        return [pid for worker in self._workers if (pid := worker.pid) is not None]

    async def start(self) -> None:
        """Start every worker process; ``OSError`` if one cannot be. Each worker's first
        decode waits until it is ready, so a server need not wait for their imports."""
        if self._threads is not None:
            return
        try:
            for worker in self._workers:
                worker.launch()
        except BaseException:
            await asyncio.to_thread(self._stop_workers, 0)
            raise
        for worker in self._workers:
            self._idle.put(worker)
        self._threads = ThreadPoolExecutor(len(self._workers), thread_name_prefix="traceway-decode")
        self._drained.set()

    async def stop(self, grace_s: float = 10.0) -> None:
        """Refuse new bodies, let running decodes finish (up to ``grace_s``), end the
        workers and wait for them. Idempotent."""
        self._closing = True
        threads, self._threads = self._threads, None
        if threads is None:
            return
        try:
            await asyncio.wait_for(self._drained.wait(), grace_s)
        except TimeoutError:
            # Stuck decodes: their threads see the workers die and answer "retry later".
            await asyncio.gather(*(asyncio.to_thread(worker.kill) for worker in self._workers))
        await asyncio.to_thread(threads.shutdown, wait=True)
        await asyncio.to_thread(self._stop_workers, grace_s)

    async def __aenter__(self) -> DecodePool:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def decode(self, body: bytes, body_format: BodyFormat) -> DecodedSpans:
        """The spans of ``body``: decoded here when it is small or the C decoder takes
        it (faster than a trip to a worker), else by a worker."""
        if len(body) < self._min_body_bytes:
            return await self._inline.decode(body, body_format)
        threads = self._threads
        if threads is None or self._closing:
            raise RetryLaterError("traceway is shutting down", _RETRY_AFTER_S)
        if body_format == "protobuf" and NATIVE_AVAILABLE:
            decoded = await self._inline.decode_natively(body)
            if decoded is not None:
                return decoded
        if self._pending_bytes and self._pending_bytes + len(body) > self._max_waiting_bytes:
            raise RetryLaterError(
                f"decoders are busy ({self._pending_bytes} bytes of exports in hand)",
                _RETRY_AFTER_S,
            )
        self._pending_bytes += len(body)
        self._in_flight += 1
        self._drained.clear()
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(threads, self._decode_on_worker, body_format, body)
        finally:
            self._pending_bytes -= len(body)
            self._in_flight -= 1
            if not self._in_flight:
                self._drained.set()

    def _decode_on_worker(self, body_format: BodyFormat, body: bytes) -> DecodedSpans:
        """On a pool thread: decode on an idle worker, again on a new one if it dies."""
        worker = self._idle.get()  # never waits: one thread per worker
        try:
            try:
                return self._running(worker).decode(body_format, body, self._decode_timeout_s)
            except _WorkerLostError:
                worker.kill()  # and the body is decoded again, by a new process
            try:
                return self._running(worker).decode(body_format, body, self._decode_timeout_s)
            except _WorkerLostError as lost:
                worker.kill()
                raise RetryLaterError(
                    f"decode worker process died twice on this export ({lost}); send it again",
                    _RETRY_AFTER_S,
                ) from lost
        finally:
            self._idle.put(worker)

    def _running(self, worker: _Worker) -> _Worker:
        """``worker``, replaced by a new process first if it is not running."""
        if not worker.running():
            if self._closing:
                raise RetryLaterError("traceway is shutting down", _RETRY_AFTER_S)
            worker.stop(0)
            try:
                worker.start()
            except OSError as exc:
                raise RetryLaterError(str(exc), _RETRY_AFTER_S) from exc
            self.replaced_workers += 1
        return worker

    def _stop_workers(self, grace_s: float) -> None:
        for worker in self._workers:
            worker.stop(grace_s)
