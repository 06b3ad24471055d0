"""The Jaeger-compatible HTTP API, so Jaeger UI, Grafana and Jaeger tooling can read traceway.

Routes (answers in Jaeger's envelope ``{"data", "total", "limit", "offset", "errors"}``):

* ``GET /api/services`` — service names.
* ``GET /api/services/{service}/operations`` — operation names of a service.
* ``GET /api/operations?service=S&spanKind=server`` — ``[{"name", "spanKind"}]``.
* ``GET /api/traces?...`` — search (parameters: see ``traceway.api.jaeger_params``).
* ``GET /api/traces/{traceID}`` — one trace; short and upper-case hex ids are accepted.
* ``GET /api/dependencies?endTs=<ms>&lookback=<ms>`` — ``[{"parent", "child", "callCount"}]``.

Search semantics: a trace matches when **one span** of it has the service, the
operation, every tag, a duration inside the bounds and (with ``error=true``) an
error status, and starts inside the time window. Tags match a span attribute or a
resource attribute of that span, compared as text (``true``, ``42``, ``1.5``), plus
the derived tags ``span.kind`` (``server``, ``client``, ...), ``error`` (``true`` on
error spans) and ``otel.status_code`` (``OK``/``ERROR``). Traces come back newest
first (by the matching span's start), at most ``limit`` (capped at 1500) of them.

Every trace, by id or found, holds at most the span limit (``--max-trace-spans``):
the earliest spans by start time. A trace that has more carries a ``warnings`` entry
saying how many it has and how many are shown.

Handlers only translate: parameters to queries (``jaeger_params``), the model to
JSON (``jaeger_json``); the ``QueryService`` does the rest, in a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from traceway.api.envelope import EnvelopeError, envelope_response
from traceway.api.errors import NotFound
from traceway.api.jaeger_json import (
    JaegerTrace,
    dependency_to_json,
    operation_to_json,
    trace_to_json,
    traces_to_json,
)
from traceway.api.jaeger_params import (
    parse_dependency_window,
    parse_operation_query,
    parse_trace_search,
)
from traceway.query.service import QueryService

__all__ = ["TRACE_NOT_FOUND", "JaegerApi"]

TRACE_NOT_FOUND = "trace not found"
"""Jaeger's message for an unknown trace id (``spanstore.ErrTraceNotFound``)."""


class JaegerApi:
    """The endpoints of the Jaeger-compatible API over one ``QueryService``."""

    def __init__(self, query: QueryService, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._query = query
        self._clock_ns = clock_ns

    def routes(self) -> list[Route]:
        """The routes, all under ``/api/``."""
        return [
            Route("/api/services", self.services, methods=["GET"]),
            Route(
                "/api/services/{service:path}/operations",
                self.service_operations,
                methods=["GET"],
            ),
            Route("/api/operations", self.operations, methods=["GET"]),
            Route("/api/traces", self.search, methods=["GET"]),
            Route("/api/traces/{trace_id}", self.trace, methods=["GET"]),
            Route("/api/dependencies", self.dependencies, methods=["GET"]),
        ]

    async def services(self, request: Request) -> Response:
        return envelope_response(await run_in_threadpool(self._query.get_services))

    async def service_operations(self, request: Request) -> Response:
        """Operation names only, each once (Jaeger's legacy endpoint, used by Grafana)."""
        service = request.path_params["service"]
        return envelope_response(await run_in_threadpool(self._query.get_operation_names, service))

    async def operations(self, request: Request) -> Response:
        query = parse_operation_query(request.query_params)
        operations = await run_in_threadpool(self._query.get_operations, query)
        return envelope_response([operation_to_json(op) for op in operations])

    async def search(self, request: Request) -> Response:
        search = parse_trace_search(request.query_params, now_ns=self._clock_ns())
        if not search.trace_ids:
            data = await run_in_threadpool(
                lambda: traces_to_json(self._query.find_traces(search.query))
            )
            return envelope_response(data)
        found, missing = await run_in_threadpool(self._query.get_traces, search.trace_ids)
        errors: list[EnvelopeError] = [
            {"msg": TRACE_NOT_FOUND, "traceID": trace_id} for trace_id in missing
        ]
        return envelope_response(await run_in_threadpool(traces_to_json, found), errors=errors)

    async def trace(self, request: Request) -> Response:
        trace_id: str = request.path_params["trace_id"]
        data = await run_in_threadpool(self._trace_json, trace_id)
        if data is None:
            raise NotFound(TRACE_NOT_FOUND)
        return envelope_response([data])

    async def dependencies(self, request: Request) -> Response:
        window = parse_dependency_window(request.query_params, now_ns=self._clock_ns())
        links = await run_in_threadpool(
            self._query.get_dependencies, window.end_ns, window.lookback_ns, window.service_name
        )
        return envelope_response([dependency_to_json(link) for link in links])

    def _trace_json(self, trace_id: str) -> JaegerTrace | None:
        trace = self._query.get_trace(trace_id)
        return None if trace is None else trace_to_json(trace)
