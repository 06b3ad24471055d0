"""Instrumentation: the handle configure() returns, to flush and shut down what it set up."""

from __future__ import annotations

import os
import threading
import weakref
from types import TracebackType

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import ProcessResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider

from traceway.instrument._exit_hooks import ExitHooks

__all__ = ["Instrumentation"]


class Instrumentation:
    """What configure() set up: its providers, and the means to flush and shut them down."""

    def __init__(
        self,
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider | None,
        *,
        owned: bool,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._owned = owned
        self._exit_hooks: ExitHooks | None = None
        self._is_shut_down = False
        # Re-entrant: SIGTERM may arrive while the main thread is inside shutdown().
        self._lock = threading.RLock()
        if owned and hasattr(os, "register_at_fork"):
            after_fork = weakref.WeakMethod(self._after_fork_in_child)

            def _after_in_child() -> None:
                if (method := after_fork()) is not None:
                    method()

            os.register_at_fork(after_in_child=_after_in_child)

    @property
    def tracer_provider(self) -> TracerProvider:
        return self._tracer_provider

    @property
    def meter_provider(self) -> MeterProvider | None:
        """None when metrics are off."""
        return self._meter_provider

    @property
    def resource(self) -> Resource:
        return self._tracer_provider.resource

    @property
    def is_shut_down(self) -> bool:
        return self._is_shut_down

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export every finished span and metric now; False if something did not make it."""
        flushed = self._tracer_provider.force_flush(timeout_millis)
        if self._meter_provider is not None:
            flushed = self._meter_provider.force_flush(timeout_millis) and flushed
        return flushed

    def shutdown(self, timeout_millis: int = 30_000) -> None:
        """Flush and stop exporting; later calls do nothing."""
        with self._lock:
            if self._is_shut_down:
                return
            self._is_shut_down = True
            if self._exit_hooks is not None:
                self._exit_hooks.uninstall()
            if not self._owned:
                self.force_flush(timeout_millis)
                return
            self._tracer_provider.shutdown()
            if self._meter_provider is not None:
                self._meter_provider.shutdown(timeout_millis=timeout_millis)

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()

    def _install_exit_hooks(self) -> None:
        self._exit_hooks = ExitHooks(flush=self.force_flush, shutdown=self.shutdown)
        self._exit_hooks.install()

    def _after_fork_in_child(self) -> None:
        self._lock = threading.RLock()
        # The SDK refreshes only the detectors named in OTEL_EXPERIMENTAL_RESOURCE_DETECTORS
        # after a fork; process.pid comes from ours, so refresh it too (when the SDK can).
        process = ProcessResourceDetector().detect()
        for provider in (self._tracer_provider, self._meter_provider):
            update = getattr(provider, "_update_resource", None)
            if callable(update):
                update(process)
