"""Processors that rewrite a few spans, leaving every other span of a batch as it came.

A ``SpanRewriter`` says how to rewrite one span's own content and one resource or
scope (returning the object itself when nothing changes), and how to screen a
``SpanBatch`` for the rows that may need it. ``plan`` then costs, for a batch where
nothing needs work, the screen (none if it ran already, see below) and one set
comparison of the batch's resource and scope keys: resources and scopes repeat from
request to request, so their answers are kept by content key.
Changed rows are re-encoded and put in place of the old ones; the others keep their
columns as decoded.

The screen is a pure function of the batch and the rewriter's configuration, so it
can run where the batch is decoded (a decode worker process, a thread): ``BatchScreens``
runs the screens of some rewriters, named by their ``screen_spec``, and returns the
batch as a ``ScreenedBatch``, whose rows a rewriter of the same spec takes instead of
screening again on the event loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from traceway.model import InstrumentationScope, Resource, Span
from traceway.pipeline.processing import SpanChange, SpanProcessor
from traceway.storage.span_batch import SpanBatch, SpanBatchBuilder, resource_key, scope_key

__all__ = ["BatchScreens", "ScreenSpec", "ScreenedBatch", "SpanRewriter", "screen_specs"]

_T = TypeVar("_T", Resource, InstrumentationScope)
_MAX_REMEMBERED = 4096

ScreenSpec = tuple[type["SpanRewriter"], Hashable]
"""A rewriter's class and configuration: what its screen depends on (picklable)."""


class ScreenedBatch(SpanBatch):
    """A ``SpanBatch`` with the rows that screens found in it, by ``ScreenSpec``."""

    __slots__ = ("screened",)

    def __init__(
        self,
        table: pa.Table,
        resources: Mapping[int, Resource],
        scopes: Mapping[int, InstrumentationScope],
        screened: Mapping[ScreenSpec, Sequence[int]],
    ) -> None:
        super().__init__(table, resources, scopes)
        self.screened: Mapping[ScreenSpec, Sequence[int]] = dict(screened)


class SpanRewriter(ABC):
    """A ``SpanProcessor`` that rewrites spans one at a time, and only those that need it.

    A subclass is built from its configuration alone (``cls(config)``), which is
    hashable and picklable, so that its screen can be rebuilt in another process.
    """

    def __init__(self, config: Hashable) -> None:
        self._config = config
        # Content key -> the rewritten object, None when it passes unchanged.
        self._resources: dict[int, Resource | None] = {}
        self._scopes: dict[int, InstrumentationScope | None] = {}
        # The keys of those that pass unchanged, for one set comparison per batch.
        self._unchanged_resources: set[int] = set()
        self._unchanged_scopes: set[int] = set()

    @property
    def screen_spec(self) -> ScreenSpec:
        """What this rewriter's screen depends on: its class and configuration."""
        return (type(self), self._config)

    @abstractmethod
    def screen(self, batch: SpanBatch) -> Iterable[int]:
        """Rows whose attributes, events, links or status may need rewriting; rows that
        turn out to need nothing are fine, leaving one out is not."""

    @abstractmethod
    def rewrite_span(self, span: Span) -> Span:
        """``span`` with its own content rewritten, not its resource or scope; ``span``
        itself when nothing changes."""

    @abstractmethod
    def rewrite_resource_or_scope(self, owner: _T) -> _T:
        """The rewritten resource or scope (their attributes); ``owner`` itself when
        nothing changes."""

    def plan(self, spans: Sequence[Span]) -> SpanChange | None:
        """None when ``spans`` pass unchanged, else the work that rewrites them."""
        if not spans:
            return None
        if not isinstance(spans, SpanBatch):
            return partial(self._rewrite_spans, spans)
        screened = (
            spans.screened.get(self.screen_spec) if isinstance(spans, ScreenedBatch) else None
        )
        # Screened rows come from BatchScreens.rows, sorted and without repeats already.
        rows = sorted(set(self.screen(spans))) if screened is None else list(screened)
        if rows or not self._unchanged(spans):
            return partial(self._rewrite_batch, spans, rows)
        return None

    def _unchanged(self, batch: SpanBatch) -> bool:
        """Whether every resource and scope of ``batch`` is known to pass unchanged."""
        return (
            batch.resources.keys() <= self._unchanged_resources
            and batch.scopes.keys() <= self._unchanged_scopes
        )

    def _rewrite_spans(self, spans: Sequence[Span]) -> Sequence[Span]:
        resources: dict[int, Resource] = {}  # id() of the object -> rewritten
        scopes: dict[int, InstrumentationScope] = {}
        rewritten: list[Span] = []
        changed = False
        for span in spans:
            new = self.rewrite_span(span)
            resource = resources.get(id(span.resource))
            if resource is None:
                resource = resources[id(span.resource)] = self.rewrite_resource_or_scope(
                    span.resource
                )
            scope = scopes.get(id(span.scope))
            if scope is None:
                scope = scopes[id(span.scope)] = self.rewrite_resource_or_scope(span.scope)
            if resource is not span.resource or scope is not span.scope:
                new = replace(new, resource=resource, scope=scope)
            changed = changed or new is not span
            rewritten.append(new)
        return tuple(rewritten) if changed else spans

    def _rewrite_batch(self, batch: SpanBatch, rows: list[int]) -> SpanBatch:
        table = batch.table
        if rows:
            candidates = SpanBatch(
                table.take(pa.array(rows, pa.int64())), batch.resources, batch.scopes
            )
            changed = [
                (row, new)
                for row, span in zip(rows, candidates, strict=True)
                if (new := self.rewrite_span(span)) is not span
            ]
            if changed:
                table = _replace_rows(table, changed)
        resources = self._rewritten(
            batch.resources,
            self._resources,
            self._unchanged_resources,
            self.rewrite_resource_or_scope,
        )
        new_resource_keys = {old: resource_key(new) for old, new in resources.items()}
        scopes = self._rewritten(
            batch.scopes, self._scopes, self._unchanged_scopes, self.rewrite_resource_or_scope
        )
        new_scope_keys = {old: scope_key(new) for old, new in scopes.items()}
        if table is batch.table and not resources and not scopes:
            return batch
        table = _remap(table, "resource_key", new_resource_keys)
        table = _remap(table, "scope_key", new_scope_keys)
        return SpanBatch(
            table,
            _renamed(batch.resources, resources, new_resource_keys),
            _renamed(batch.scopes, scopes, new_scope_keys),
        )

    @staticmethod
    def _rewritten(
        objects: Mapping[int, _T],
        known: dict[int, _T | None],
        unchanged: set[int],
        rewrite: Callable[[_T], _T],
    ) -> dict[int, _T]:
        """The objects of ``objects`` that change, by key; answers are kept in ``known``,
        and the keys of those that pass unchanged in ``unchanged`` too."""
        changed: dict[int, _T] = {}
        for key, original in objects.items():
            try:
                answer = known[key]
            except KeyError:  # (``known`` is shared by worker threads: read it once)
                new = rewrite(original)
                answer = None if new is original else new
                if len(known) >= _MAX_REMEMBERED:
                    known.clear()  # resources are few in practice; this bounds odd clients
                    unchanged.clear()
                known[key] = answer
                if answer is None:
                    unchanged.add(key)
            if answer is not None:
                changed[key] = answer
        return changed


class BatchScreens:
    """The screens of some rewriters, run where batches are decoded, off the event loop."""

    def __init__(self, specs: Iterable[ScreenSpec] = ()) -> None:
        self.specs = tuple(specs)
        self._rewriters = [rewriter(config) for rewriter, config in self.specs]

    def rows(self, batch: SpanBatch) -> list[list[int]]:
        """Each screen's rows of ``batch``, sorted, in the order of ``specs``."""
        return [sorted(set(rewriter.screen(batch))) for rewriter in self._rewriters]

    def screened(
        self, batch: SpanBatch, rows: Sequence[Sequence[int]] | None = None
    ) -> ScreenedBatch:
        """``batch`` with its screens' ``rows`` (screened here if not given)."""
        if rows is None:
            rows = self.rows(batch)
        if len(rows) != len(self.specs):
            raise ValueError(f"{len(rows)} screen results for {len(self.specs)} screens")
        return ScreenedBatch(
            batch.table, batch.resources, batch.scopes, dict(zip(self.specs, rows, strict=True))
        )


def screen_specs(processors: Iterable[SpanProcessor]) -> tuple[ScreenSpec, ...]:
    """The screens of those ``processors`` that can be screened where batches are decoded."""
    return tuple(
        processor.screen_spec for processor in processors if isinstance(processor, SpanRewriter)
    )


def _replace_rows(table: pa.Table, changed: list[tuple[int, Span]]) -> pa.Table:
    """``table`` with the rows at the given indices replaced by the spans."""
    builder = SpanBatchBuilder()
    for _, span in changed:
        builder.add_span(span)
    size = table.num_rows
    order = list(range(size))
    for number, (row, _) in enumerate(changed):
        order[row] = size + number
    joined = pa.concat_tables([table, builder.build().table])
    return joined.take(pa.array(order, pa.int64()))


def _remap(table: pa.Table, column: str, keys: Mapping[int, int]) -> pa.Table:
    keys = {old: new for old, new in keys.items() if old != new}
    if not keys:
        return table
    index = table.schema.get_field_index(column)
    values = table.column(index)
    positions = pc.index_in(values, value_set=pa.array(list(keys), pa.int64()))
    new_values = pc.take(pa.array(list(keys.values()), pa.int64()), positions)
    remapped = pc.if_else(pc.is_null(positions), values, new_values)
    return table.set_column(index, table.schema.field(index), remapped)


def _renamed(
    objects: Mapping[int, _T], changed: Mapping[int, _T], keys: Mapping[int, int]
) -> dict[int, _T]:
    renamed = {key: value for key, value in objects.items() if key not in changed}
    renamed.update((keys[old], new) for old, new in changed.items())
    return renamed
