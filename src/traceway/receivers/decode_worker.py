"""One process of the ``DecodePool``: export bodies in, span columns out.

The pool runs ``python -m traceway.receivers.decode_worker FD``, FD being the worker's
end of a socket pair; nobody else should. Messages use ``multiprocessing.connection``
framing:

* worker → pool, once started: ``b"ready"``;
* pool → worker: the body's format (``b"protobuf"`` or ``b"json"``), then the body;
* worker → pool: a pickled ``Reply`` tuple, then for decoded spans the Arrow IPC
  stream of the ``SpanBatch`` table.

The body is only ever parsed as OTLP, never unpickled; only the worker's replies are.
SIGINT and SIGTERM are ignored: the pool stops a worker by closing its socket, which
also happens when the server dies, so a Ctrl-C on the terminal cannot fail exports
that are being decoded while the server drains.
"""

from __future__ import annotations

import pickle
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import pyarrow as pa

from traceway.receivers.otlp_decode import (
    DecodedSpans,
    OtlpDecodeError,
    decode_json,
    decode_protobuf,
)
from traceway.storage.span_batch import span_batch_of

__all__ = ["DECODERS", "READY", "Reply", "main", "serve"]

READY = b"ready"
DECODERS: dict[bytes, Callable[[bytes], DecodedSpans]] = {
    b"protobuf": decode_protobuf,
    b"json": decode_json,
}

Reply = tuple[Any, ...]
"""``("spans", rejected, error_message, resources, scopes)`` then the table,
``("invalid", message)`` for an ``OtlpDecodeError``, ``("failed", traceback)`` else."""


def serve(connection: Connection) -> None:
    """Decode requests from ``connection`` until the pool closes it."""
    connection.send_bytes(READY)
    while True:
        try:
            body_format = connection.recv_bytes()
            body = connection.recv_bytes()
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
            )
        except OtlpDecodeError as exc:
            connection.send_bytes(pickle.dumps(("invalid", str(exc))))
            continue
        except Exception:  # sent to the pool, which raises it in the server
            connection.send_bytes(pickle.dumps(("failed", traceback.format_exc())))
            continue
        connection.send_bytes(pickle.dumps(reply))
        connection.send_bytes(table)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m traceway.receivers.decode_worker FD (run by DecodePool)")
        return 2
    sock = socket.socket(fileno=int(argv[0]))
    connection = Connection(sock.detach())
    try:
        serve(connection)
    finally:
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
