"""The one method between a receiver and the pipeline, and the errors it may raise.

Ownership: once ``consume`` is called the pipeline owns the spans; the receiver
must not change them. ``consume`` returns only after the spans are committed to
storage, so a receiver acknowledges an export only when it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from traceway.model import Span

__all__ = ["PipelineClosedError", "RejectedSpansError", "RetryLaterError", "SpanConsumer"]


class RetryLaterError(Exception):
    """Retryable: the pipeline cannot take the spans now (queue full, storage failing).

    Receivers map it to HTTP 503 with ``Retry-After`` and gRPC ``UNAVAILABLE``;
    the OpenTelemetry exporters retry both.
    """

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PipelineClosedError(RetryLaterError):
    """The pipeline is shutting down and takes no more spans."""


class RejectedSpansError(ValueError):
    """Permanent: storage refused these spans as invalid; sending them again cannot help.

    Receivers map it to HTTP 400 and gRPC ``INVALID_ARGUMENT``.
    """


class SpanConsumer(Protocol):
    async def consume(self, spans: Sequence[Span]) -> None:
        """Return once ``spans`` are durably stored; raise ``RetryLaterError`` (retryable)
        or ``RejectedSpansError`` (permanent) if not."""
