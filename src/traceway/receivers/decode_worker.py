"""One process of the ``DecodePool``: export bodies in, screened span columns out.

The pool runs this module's ``main`` with FD, the worker's end of a socket pair;
nobody else should. Each message is its length (8 bytes, big
endian) then its bytes, read straight into one buffer (``send_message``,
``receive_message``):

* pool → worker, once at start: the pickled ``ScreenSpec`` tuple of the processors
  whose screens the worker runs on every batch (``BatchScreens``);
* worker → pool, once started: ``b"ready"``;
* pool → worker: the body's format (``b"protobuf"`` or ``b"json"``), then the body;
* worker → pool: a pickled ``Reply`` tuple, then for decoded spans the Arrow IPC
  stream of the ``SpanBatch`` table.

The body is only ever parsed as OTLP, never unpickled; only the pool's screen specs
and the worker's replies are.
SIGINT and SIGTERM are ignored: the pool stops a worker by closing its socket, which
also happens when the server dies, so a Ctrl-C on the terminal cannot fail exports
that are being decoded while the server drains.
"""

from __future__ import annotations

import pickle
import signal
import socket
import struct
import sys
import traceback
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from traceway.pipeline.span_rewrite import BatchScreens
from traceway.receivers.otlp_decode import (
    DecodedSpans,
    OtlpDecodeError,
    decode_json,
    decode_protobuf_python,
)
from traceway.storage.span_batch import span_batch_of

__all__ = ["DECODERS", "READY", "Reply", "main", "receive_message", "send_message", "serve"]

READY = b"ready"
DECODERS: dict[bytes, Callable[[bytes], DecodedSpans]] = {
    b"protobuf": decode_protobuf_python,  # the pool has tried the C decoder already
    b"json": decode_json,
}

Reply = tuple[Any, ...]
"""``("spans", rejected, error_message, resources, scopes, screened_rows)`` then the
table (``screened_rows`` in the order of the screen specs), ``("invalid", message)``
for an ``OtlpDecodeError``, ``("failed", traceback)`` else."""

_LENGTH = struct.Struct("!Q")
_SMALL = 1 << 16  # a message this short goes in one write with its length


def send_message(sock: socket.socket, message: bytes | pa.Buffer) -> None:
    """Send one message: its length, then its bytes (not copied when large)."""
    header = _LENGTH.pack(len(message))
    if len(message) < _SMALL:
        sock.sendall(header + bytes(message))
    else:
        sock.sendall(header)
        sock.sendall(message)


def receive_message(sock: socket.socket) -> bytearray:
    """The next message; ``EOFError`` if the other end closed the socket."""
    (size,) = _LENGTH.unpack(_receive_exactly(sock, _LENGTH.size))
    return _receive_exactly(sock, size)


def _receive_exactly(sock: socket.socket, size: int) -> bytearray:
    data = bytearray(size)
    with memoryview(data) as view:
        received = 0
        while received < size:
            count = sock.recv_into(view[received:])
            if not count:
                raise EOFError("the other end closed the socket")
            received += count
    return data


def serve(sock: socket.socket, screens: BatchScreens) -> None:
    """Decode requests from ``sock`` until the pool closes it."""
    try:
        send_message(sock, READY)
    except OSError:
        return  # the pool stopped while this worker started (a server that failed to)
    while True:
        try:
            body_format = bytes(receive_message(sock))
            body = bytes(receive_message(sock))
        except (EOFError, OSError):
            return  # the pool closed the socket (or the server is gone): stop
        decode = DECODERS.get(body_format)
        try:
            if decode is None:
                raise ValueError(f"unknown body format {body_format!r}")
            decoded = decode(body)
            batch = span_batch_of(decoded.spans)
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, batch.table.schema) as writer:
                writer.write_table(batch.table)
            table = sink.getvalue()
            reply: Reply = (
                "spans",
                decoded.rejected_spans,
                decoded.error_message,
                dict(batch.resources),
                dict(batch.scopes),
                screens.rows(batch),
            )
        except OtlpDecodeError as exc:
            send_message(sock, pickle.dumps(("invalid", str(exc))))
            continue
        except Exception:  # sent to the pool, which raises it in the server
            send_message(sock, pickle.dumps(("failed", traceback.format_exc())))
            continue
        send_message(sock, pickle.dumps(reply))
        send_message(sock, table)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: decode_worker FD (run by DecodePool)")
        return 2
    with socket.socket(fileno=int(argv[0])) as sock:
        try:
            # From the pool that started this process, as trusted as its arguments.
            specs = pickle.loads(receive_message(sock))  # noqa: S301
        except (EOFError, OSError):
            return 0
        serve(sock, BatchScreens(specs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
