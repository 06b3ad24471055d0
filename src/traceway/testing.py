"""Assert on the spans your code makes: the ``spans`` pytest fixture.

    def test_get_user(spans):
        client.get("/user/7")
        root = spans.one("GET /user/{id}", **{"http.route": "/user/{id}"})
        spans.assert_tree({"GET /user/{id}": {"cache lookup": {}, "UserService/Get": {}}})

Loaded by pytest through its ``traceway.testing`` entry point, or by
``-p traceway.testing`` / ``pytest_plugins = ["traceway.testing"]`` where plugins are not
loaded automatically; ``-p no:traceway.testing`` turns it off.
Spans come back as ``traceway.model.Span``: ids as lowercase hex, attributes as a dict.

The OpenTelemetry API lets the global TracerProvider be set only once per process, so
the first test that asks for ``spans`` installs one real SDK TracerProvider (or, if an
SDK provider is already global, joins it), with one processor that each test points at
its own in-memory exporter and detaches afterwards. Spans ended between tests are
dropped. traceway.instrument.configure() recognises this provider and adds no exporters;
called first (say, when an application module is imported), it builds its own provider
without OTLP exporters unless asked explicitly (``traces=True``, ``OTEL_TRACES_EXPORTER``),
which the fixture then joins.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias, overload

import pytest
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import Span as SDKSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from traceway import model
from traceway.instrument._configure import TESTING_PROVIDER_MARK, under_pytest

__all__ = ["CapturedSpans", "SpanTree", "capture_spans", "spans"]

TEST_SERVICE_NAME = "traceway-test"
_MAX_LISTED = 20  # spans whose asked attributes a failure message lists

SpanTree: TypeAlias = "str | tuple[str, Sequence[SpanTree]] | Mapping[str, Any]"
"""An expected tree: a leaf name, ``(name, [children])``, or ``{name: {child: {...}}}``."""

_Canonical: TypeAlias = tuple[str, tuple[Any, ...]]


class _SwitchProcessor(SpanProcessor):
    """The one processor on the global provider; forwards to the current test's, if any."""

    def __init__(self) -> None:
        self.target: SpanProcessor | None = None

    def on_start(self, span: SDKSpan, parent_context: context_api.Context | None = None) -> None:
        target = self.target
        if target is not None:
            target.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        target = self.target
        if target is not None:
            target.on_end(span)

    def shutdown(self) -> None:
        self.target = None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


_switch: _SwitchProcessor | None = None


def _global_switch() -> _SwitchProcessor:
    global _switch
    if _switch is not None:
        return _switch
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": TEST_SERVICE_NAME}))
        setattr(provider, TESTING_PROVIDER_MARK, True)
        trace.set_tracer_provider(provider)
        if trace.get_tracer_provider() is not provider:
            raise RuntimeError(
                "traceway.testing could not install its TracerProvider: a non-SDK provider "
                f"({type(trace.get_tracer_provider()).__name__}) is already global"
            )
    _switch = _SwitchProcessor()
    provider.add_span_processor(_switch)
    return _switch


def _to_model(span: ReadableSpan) -> model.Span:
    ctx = span.get_span_context()
    parent = span.parent
    scope = span.instrumentation_scope
    return model.Span(
        trace_id=format(ctx.trace_id, "032x") if ctx else "",
        span_id=format(ctx.span_id, "016x") if ctx else "",
        parent_span_id=format(parent.span_id, "016x") if parent else "",
        name=span.name,
        start_time_unix_nano=span.start_time or 0,
        end_time_unix_nano=span.end_time or 0,
        kind=model.SpanKind(span.kind.value + 1),  # the API's kinds start at INTERNAL = 0
        attributes=_plain(span.attributes),
        status_code=model.StatusCode(span.status.status_code.value),
        status_message=span.status.description or "",
        resource=model.Resource(attributes=_plain(span.resource.attributes)),
        scope=model.InstrumentationScope(
            name=scope.name if scope else "", version=(scope.version or "") if scope else ""
        ),
        events=tuple(model.Event(e.timestamp, e.name, _plain(e.attributes)) for e in span.events),
    )


def _plain(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    # The SDK stores sequences as tuples; traceway's model keeps them as lists.
    return {k: list(v) if isinstance(v, tuple) else v for k, v in (attributes or {}).items()}


class CapturedSpans(Sequence[model.Span]):
    """The spans finished during one test, in the order they ended."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._exporter = exporter

    @property
    def _spans(self) -> list[model.Span]:
        return [_to_model(s) for s in self._exporter.get_finished_spans()]

    @overload
    def __getitem__(self, index: int) -> model.Span: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[model.Span]: ...
    def __getitem__(self, index: int | slice) -> model.Span | Sequence[model.Span]:
        return self._spans[index]

    def __len__(self) -> int:
        return len(self._exporter.get_finished_spans())

    def clear(self) -> None:
        """Forget the spans captured so far."""
        self._exporter.clear()

    def names(self) -> list[str]:
        return [s.name for s in self._spans]

    def find(self, name: str | None = None, /, **attributes: Any) -> list[model.Span]:
        """Spans with this name (if given) and these attribute values (dotted keys via ``**{}``)."""
        return [
            s
            for s in self._spans
            if (name is None or s.name == name)
            and all(k in s.attributes and s.attributes[k] == v for k, v in attributes.items())
        ]

    def one(self, name: str | None = None, /, **attributes: Any) -> model.Span:
        """The only span that matches; fails the test, listing the spans, otherwise."""
        found = self.find(name, **attributes)
        if len(found) != 1:
            criteria = [f"{k}={v!r}" for k, v in attributes.items()]
            if name is not None:
                criteria.insert(0, repr(name))
            wanted = ", ".join(criteria)
            raise AssertionError(
                f"expected one span matching {wanted or 'anything'}, found {len(found)}; "
                f"{self._asked_values(name, attributes)}captured:\n{self.render()}"
            )
        return found[0]

    def _asked_values(self, name: str | None, attributes: Mapping[str, Any]) -> str:
        """What the spans of that name hold under the asked keys, for a failure message."""
        named = [s for s in self._spans if name is None or s.name == name]
        if not attributes or not named:
            return ""
        lines = [
            f"  {s.name}: "
            + ", ".join(
                f"{k}={s.attributes[k]!r}" if k in s.attributes else f"{k} not set"
                for k in attributes
            )
            for s in named[:_MAX_LISTED]
        ]
        if len(named) > _MAX_LISTED:
            lines.append(f"  ... and {len(named) - _MAX_LISTED} more")
        heading = "those named so have" if name is not None else "the spans have"
        return f"{heading}:\n" + "\n".join(lines) + "\n"

    def by_id(self, span_id: str) -> model.Span | None:
        return next((s for s in self._spans if s.span_id == span_id), None)

    def parent_of(self, span: model.Span) -> model.Span | None:
        return self.by_id(span.parent_span_id) if span.parent_span_id else None

    def children_of(self, span: model.Span) -> list[model.Span]:
        """Direct children, by start time."""
        children = [
            s
            for s in self._spans
            if s.parent_span_id == span.span_id and s.trace_id == span.trace_id
        ]
        return sorted(children, key=lambda s: s.start_time_unix_nano)

    def roots(self) -> list[model.Span]:
        """Spans whose parent was not captured (remote parents included), by start time."""
        spans = self._spans
        ids = {(s.trace_id, s.span_id) for s in spans}
        roots = [s for s in spans if (s.trace_id, s.parent_span_id) not in ids]
        return sorted(roots, key=lambda s: s.start_time_unix_nano)

    def trace_ids(self) -> set[str]:
        return {s.trace_id for s in self._spans}

    def assert_tree(
        self, expected: SpanTree | Sequence[SpanTree], *, ordered: bool = False
    ) -> None:
        """Assert the captured spans form exactly this tree (or list of trees) of names.

        Siblings are compared as a multiset unless ``ordered``, where they must be in
        start-time order.
        """
        trees: list[Any] = expected if isinstance(expected, list) else [expected]
        want = _sort([c for tree in trees for c in _canonical(tree)], ordered)
        got = _sort(self._actual_trees(), ordered)
        if want != got:
            raise AssertionError(
                "span tree differs\nexpected:\n"
                + _render_canonical(want)
                + "captured:\n"
                + _render_canonical(got)
            )

    def render(self) -> str:
        """The captured spans as an indented tree, for failure messages."""
        return _render_canonical(self._actual_trees()) or "  (none)\n"

    def _actual_trees(self) -> list[_Canonical]:
        """The captured trees of names, roots and children by start time.

        Converts the spans once and indexes children by parent, rather than going
        through `roots` and `children_of` (which re-read every span) per node.
        """
        spans = self._spans
        ids = {(s.trace_id, s.span_id) for s in spans}
        children: dict[tuple[str, str], list[model.Span]] = {}
        roots: list[model.Span] = []
        for s in spans:
            parent = (s.trace_id, s.parent_span_id)
            if parent in ids:
                children.setdefault(parent, []).append(s)
            else:
                roots.append(s)

        def actual(span: model.Span) -> _Canonical:
            kids = sorted(
                children.get((span.trace_id, span.span_id), ()),
                key=lambda s: s.start_time_unix_nano,
            )
            return (span.name, tuple(actual(child) for child in kids))

        return [actual(root) for root in sorted(roots, key=lambda s: s.start_time_unix_nano)]


def _canonical(tree: SpanTree) -> list[_Canonical]:
    if isinstance(tree, str):
        return [(tree, ())]
    if isinstance(tree, tuple):
        name, children = tree
        return [(name, tuple(c for child in children for c in _canonical(child)))]
    result: list[_Canonical] = []
    for name, children in tree.items():
        if not children:
            result.append((name, ()))
        elif isinstance(children, Mapping):
            result.append((name, tuple(_canonical(children))))
        else:
            result.append((name, tuple(c for child in children for c in _canonical(child))))
    return result


def _sort(trees: list[_Canonical], ordered: bool) -> list[_Canonical]:
    if ordered:
        return trees
    return sorted(
        ((name, tuple(_sort(list(children), False))) for name, children in trees), key=repr
    )


def _render_canonical(trees: Sequence[_Canonical], depth: int = 1) -> str:
    lines = ""
    for name, children in trees:
        lines += "  " * depth + name + "\n" + _render_canonical(children, depth + 1)
    return lines


@contextmanager
def capture_spans() -> Iterator[CapturedSpans]:
    """Capture the spans finished inside the block (what the ``spans`` fixture uses)."""
    switch = _global_switch()
    exporter = InMemorySpanExporter()
    previous = switch.target
    switch.target = SimpleSpanProcessor(exporter)
    try:
        yield CapturedSpans(exporter)
    finally:
        switch.target = previous


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests() -> None:
    """Before conftest.py files and test modules are imported: an application module that
    calls configure() at import then sends nothing over OTLP from the tests (unless asked
    explicitly)."""
    under_pytest()


@pytest.fixture
def spans() -> Iterator[CapturedSpans]:
    """The spans finished during this test, from a real SDK TracerProvider."""
    with capture_spans() as captured:
        yield captured
