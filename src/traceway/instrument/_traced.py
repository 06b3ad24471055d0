"""traced(): a child span around a block of code or a function, sync or async.

    with traced("cache lookup", key=key):
        ...

    @traced()            # span named after the function's qualified name
    async def load_user(user_id: int) -> User: ...

An exception leaving the span is recorded on it (an ``exception`` event, ``error.type``
and status ERROR), then re-raised unchanged.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import FrameType, TracebackType
from typing import Any, ParamSpec, TypeVar, cast, overload

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

__all__ = ["Traced", "error_type", "record_error", "traced"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_F = TypeVar("_F", bound=Callable[..., Any])

_TRACER_NAME = "traceway.instrument"


def error_type(exc: BaseException) -> str:
    """The ``error.type`` of an exception: its fully qualified class name."""
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def record_error(span: Span, exc: BaseException) -> str:
    """Record ``exc`` on ``span``: an ``exception`` event, ``error.type`` and status ERROR.

    Returns the ``error.type`` it set.
    """
    failure = error_type(exc)
    span.record_exception(exc)
    span.set_attribute("error.type", failure)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
    return failure


@contextmanager
def _span(name: str, attributes: dict[str, AttributeValue]) -> Iterator[Span]:
    tracer = trace.get_tracer(_TRACER_NAME)
    with tracer.start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except Exception as exc:
            record_error(span, exc)
            raise


_Manager = AbstractContextManager[Span]


class Traced:
    """A span factory: a context manager (a new span per ``with``) and a decorator.

    One object may be entered by several blocks at once (a module-level ``traced(...)``
    used by many tasks or threads), so each ``with`` must end the span it opened. The
    open spans are kept by the frame running the ``with``, which is the same when a
    block is left in another context or thread than it was entered in (a generator body
    stepped in a fresh copy of the context each time, as Starlette steps a sync
    streaming body) and differs between tasks and threads. A block entered and left
    from different frames (``ExitStack``) ends the object's latest span.
    """

    def __init__(self, name: str | None, attributes: dict[str, AttributeValue]) -> None:
        self._name = name
        self._attributes = attributes
        self._lock = threading.Lock()
        self._open: dict[FrameType, list[_Manager]] = {}
        self._order: list[_Manager] = []

    def __enter__(self) -> Span:
        return self._enter(sys._getframe(1))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return self._leave(sys._getframe(1)).__exit__(exc_type, exc, traceback)

    async def __aenter__(self) -> Span:
        return self._enter(sys._getframe(1))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return self._leave(sys._getframe(1)).__exit__(exc_type, exc, traceback)

    def _enter(self, frame: FrameType) -> Span:
        if self._name is None:
            raise TypeError("traced() needs a span name when used as a context manager")
        manager = _span(self._name, self._attributes)
        span = manager.__enter__()
        with self._lock:
            self._open.setdefault(frame, []).append(manager)
            self._order.append(manager)
        return span

    def _leave(self, frame: FrameType) -> _Manager:
        """The manager of the block ending now: its frame's latest, else the latest."""
        with self._lock:
            if frame in self._open:
                key, manager = frame, self._open[frame][-1]
            elif self._order:
                manager = self._order[-1]
                key = next(key for key, managers in self._open.items() if manager in managers)
            else:
                raise RuntimeError("a traced() block ended that was never entered")
            managers = self._open[key]
            managers.remove(manager)
            if not managers:
                del self._open[key]
            self._order.remove(manager)
            return manager

    def __call__(self, func: _F) -> _F:
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            # A span cannot stay current across yields: the caller runs in between.
            raise TypeError(f"traced() cannot decorate the generator function {func.__qualname__}")
        name = self._name or func.__qualname__
        attributes: dict[str, AttributeValue] = {
            "code.function.name": f"{func.__module__}.{func.__qualname__}",
            **self._attributes,
        }
        if inspect.iscoroutinefunction(func):
            return cast(_F, _wrap_async(func, name, attributes))
        return cast(_F, _wrap_sync(func, name, attributes))


def _wrap_sync(
    func: Callable[_P, _R], name: str, attributes: dict[str, AttributeValue]
) -> Callable[_P, _R]:
    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _span(name, attributes):
            return func(*args, **kwargs)

    return wrapper


def _wrap_async(
    func: Callable[_P, Awaitable[_R]], name: str, attributes: dict[str, AttributeValue]
) -> Callable[_P, Awaitable[_R]]:
    @functools.wraps(func)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _span(name, attributes):
            return await func(*args, **kwargs)

    return wrapper


@overload
def traced(name: _F, /) -> _F: ...
@overload
def traced(name: str | None = None, /, **attributes: AttributeValue) -> Traced: ...
def traced(name: str | _F | None = None, /, **attributes: AttributeValue) -> Traced | _F:
    """A child span named ``name`` with ``attributes``: ``with traced(...)`` or ``@traced()``.

    As a decorator the name defaults to the function's qualified name; bare ``@traced``
    works too.
    """
    if callable(name):
        return Traced(None, {})(name)
    return Traced(name, dict(attributes))
