"""Flushing spans when the process ends: at normal exit, on SIGTERM, and in forked children.

The application keeps its own signal handling. On SIGTERM traceway flushes, then hands
over: to the handler that was installed before it, or, if there was none (SIG_DFL), to
the default action, re-raised so the process still dies of SIGTERM with the usual status.
A previous SIG_IGN (or a handler installed outside Python) is left alone: no hook then.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

__all__ = ["ExitHooks"]

_logger = logging.getLogger("traceway.instrument")

_SignalHandler = Callable[[int, FrameType | None], object]


class ExitHooks:
    """Calls ``flush`` on SIGTERM before chaining, and ``shutdown`` when the process ends."""

    def __init__(self, flush: Callable[[], object], shutdown: Callable[[], object]) -> None:
        self._flush = flush
        self._shutdown = shutdown
        self._previous_sigterm: _SignalHandler | int | None = None
        self._sigterm_installed = False
        # One bound-method object, so that getsignal() can tell whether it is still ours.
        self._sigterm_handler: _SignalHandler = self._on_sigterm

    def install(self) -> None:
        """Register the atexit, SIGTERM and multiprocessing-exit hooks."""
        atexit.register(self._shutdown)
        self._install_sigterm()
        # multiprocessing children leave through os._exit(), which skips atexit; its own
        # exit finalizers do run, and must be registered in the child, after it starts.
        multiprocessing.util.register_after_fork(self, ExitHooks._register_in_child)

    def uninstall(self) -> None:
        """Give SIGTERM back to the previous handler, unless someone replaced ours since.

        The atexit hook stays: ``shutdown`` is idempotent, and unregistering from inside
        an atexit callback is best avoided.
        """
        if not self._sigterm_installed or not _in_main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is self._sigterm_handler:
            previous = self._previous_sigterm
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        self._sigterm_installed = False

    def _install_sigterm(self) -> None:
        if not _in_main_thread():
            _logger.debug("configure() not called from the main thread: no SIGTERM flush")
            return
        previous = signal.getsignal(signal.SIGTERM)
        if previous is signal.SIG_IGN or previous is None:
            return
        self._previous_sigterm = previous
        signal.signal(signal.SIGTERM, self._sigterm_handler)
        self._sigterm_installed = True

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous_sigterm
        if callable(previous):
            self._flush()
            previous(signum, frame)
            return
        # SIG_DFL: the process is about to end, so shut down (which also flushes), then
        # terminate exactly as the default action would have.
        self._shutdown()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    def _register_in_child(self) -> None:
        multiprocessing.util.Finalize(self, self._shutdown, exitpriority=0)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
