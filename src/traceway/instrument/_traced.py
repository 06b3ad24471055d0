"""traced(): a child span around a block of code or a function, sync or async.

    with traced("cache lookup", key=key):
        ...

    @traced()            # span named after the function's qualified name
    async def load_user(user_id: int) -> User: ...

An exception leaving the span is recorded on it (an ``exception`` event, ``error.type``
and status ERROR), then re-raised unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from types import TracebackType
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


_Open = tuple[tuple["Traced", AbstractContextManager[Span]], ...]
_OPEN: ContextVar[_Open] = ContextVar("traceway_traced_open", default=())
"""The spans ``with traced(...)`` opened in this context (thread, asyncio task), by the
object that opened them: one object may be entered by several tasks or threads at once,
and each ``with`` must end its own span."""


class Traced:
    """A span factory: a context manager (a new span per ``with``) and a decorator."""

    def __init__(self, name: str | None, attributes: dict[str, AttributeValue]) -> None:
        self._name = name
        self._attributes = attributes
        # Also by object, for a block left in another context than it was entered in (a
        # generator stepped in a fresh copy of the context each time, as Starlette does
        # with a sync streaming body): the most recently opened one ends.
        self._open: list[AbstractContextManager[Span]] = []

    def __enter__(self) -> Span:
        if self._name is None:
            raise TypeError("traced() needs a span name when used as a context manager")
        manager = _span(self._name, self._attributes)
        span = manager.__enter__()
        _OPEN.set((*_OPEN.get(), (self, manager)))
        self._open.append(manager)
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return self._leave().__exit__(exc_type, exc, traceback)

    def _leave(self) -> AbstractContextManager[Span]:
        """The manager of the block ending now: this context's latest of this object's."""
        opened = _OPEN.get()
        for at in range(len(opened) - 1, -1, -1):
            owner, manager = opened[at]
            if owner is self:
                _OPEN.set(opened[:at] + opened[at + 1 :])
                with contextlib.suppress(ValueError):  # popped by a block left elsewhere
                    self._open.remove(manager)  # one call: safe beside other threads
                return manager
        if not self._open:
            raise RuntimeError("a traced() block ended that was never entered")
        return self._open.pop()

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return self.__exit__(exc_type, exc, traceback)

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
