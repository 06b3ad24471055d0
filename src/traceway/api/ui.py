"""The web UI's routes: four pages, the trace page's JSON, downloads and static files.

* ``GET /search`` — the search form (its state is the URL) and the results.
* ``GET /trace/{id}`` (``?span=`` selects a span) and ``GET /trace?id=`` (lookup).
* ``GET /map`` — the service map of a time window.
* ``GET /services`` — rates, errors and percentiles per service and operation.
* ``GET /ui-api/traces/{id}`` — the trace page's data (``traceway.ui.trace_view``).
* ``GET /ui-api/traces/{id}/otlp.json`` — the trace as an OTLP/JSON export request.
* ``/static/`` — the hand-written CSS and JavaScript modules.

Handlers translate: URL parameters to queries (``traceway.ui``), results to templates
or JSON; the query service does the rest, in a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from traceway import __version__
from traceway.api.errors import NotFound
from traceway.api.jaeger import TRACE_NOT_FOUND
from traceway.model import Trace
from traceway.query.service import InvalidQueryError, QueryService, normalize_trace_id
from traceway.query.span_tree import SpanTree
from traceway.query.summaries import TraceOrder, summarize
from traceway.receivers.otlp_encode import encode_json
from traceway.ui import formatting
from traceway.ui.map_drawing import draw_service_map
from traceway.ui.scatter import scatter_plot
from traceway.ui.search_form import LIMITS, SearchForm, page_url, search_url
from traceway.ui.time_window import (
    LOOKBACKS,
    FormErrors,
    TimeWindow,
    datetime_input,
    parse_window,
)
from traceway.ui.trace_view import trace_view

__all__ = ["WebUi"]

OPERATIONS_SHOWN = 10
"""Operations listed per service on the services page before "show all"."""

_UI = Path(__file__).resolve().parent.parent / "ui"


class _StaticFiles(StaticFiles):
    """Static files that browsers revalidate on every load (cheap 304s), so an upgraded
    server never runs next to cached modules of the old version."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def _templates() -> Jinja2Templates:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_UI / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        duration=formatting.format_duration,
        utc=formatting.format_utc,
        percent=formatting.format_percent,
        number=formatting.format_number,
        counted=formatting.format_count,
        rate=formatting.format_rate,
        datetime_input=datetime_input,
    )
    environment.globals.update(
        version=__version__,
        lookbacks=LOOKBACKS,
        limits=LIMITS,
        orders=TraceOrder,
        search_url=search_url,
        page_url=page_url,
        operations_shown=OPERATIONS_SHOWN,
    )
    return Jinja2Templates(env=environment)


def _trace_data(trace: Trace, colours: dict[str, int]) -> dict[str, Any]:
    """The trace page's data, over one ``SpanTree`` shared by summary and view."""
    tree = SpanTree.of(trace)
    return trace_view(trace, summarize(trace, tree), colours, tree)


class WebUi:
    """The UI's pages over one ``QueryService``; ``clock_ns`` is "now" for time windows."""

    def __init__(self, query: QueryService, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._query = query
        self._clock_ns = clock_ns
        self._templates = _templates()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.home, methods=["GET"]),
            Route("/search", self.search, methods=["GET"]),
            Route("/trace", self.trace_lookup, methods=["GET"]),
            Route("/trace/{trace_id}", self.trace, methods=["GET"]),
            Route("/map", self.service_map, methods=["GET"]),
            Route("/services", self.services, methods=["GET"]),
            Route("/ui-api/traces/{trace_id}", self.trace_data, methods=["GET"]),
            Route("/ui-api/traces/{trace_id}/otlp.json", self.trace_otlp, methods=["GET"]),
            Mount("/static", _StaticFiles(directory=_UI / "static"), name="static"),
        ]

    def _page(
        self, request: Request, name: str, context: Mapping[str, Any], status_code: int = 200
    ) -> Response:
        return self._templates.TemplateResponse(
            request, name, dict(context), status_code=status_code
        )

    def _error_page(self, request: Request, status_code: int, message: str) -> Response:
        return self._page(
            request,
            "error.html",
            {"page": "error", "status": status_code, "message": message},
            status_code,
        )

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/search", status_code=302)

    async def search(self, request: Request) -> Response:
        form = SearchForm.from_params(request.query_params)
        services, operations = await run_in_threadpool(self._services_and_operations, form.service)
        context: dict[str, Any] = {
            "page": "search",
            "form": form,
            "services": services,
            "operations": operations,
            "colours": formatting.colour_indexes(services),
            "errors": {},
            "results": None,
            "scatter": None,
        }
        try:
            query = form.to_query(self._clock_ns())
        except FormErrors as exc:
            context["errors"] = exc.errors
            return self._page(request, "search.html", context, status_code=400)
        try:
            results = await run_in_threadpool(self._query.find_trace_summaries, query, form.order)
        except InvalidQueryError as exc:
            context["errors"] = {"form": str(exc)}
            return self._page(request, "search.html", context, status_code=400)
        context.update(results=results, scatter=scatter_plot(results))
        return self._page(request, "search.html", context)

    def _services_and_operations(self, service: str) -> tuple[list[str], list[str]]:
        services = self._query.get_services()
        if not service:
            return services, []
        return services, self._query.get_operation_names(service)

    async def trace_lookup(self, request: Request) -> Response:
        raw = request.query_params.get("id", "")
        try:
            trace_id = normalize_trace_id(raw)
        except InvalidQueryError as exc:
            return self._error_page(request, 400, str(exc))
        return RedirectResponse(f"/trace/{trace_id}", status_code=302)

    def _load(self, raw_id: str) -> Trace:
        trace = self._query.get_trace(raw_id)
        if trace is None or not trace.spans:
            raise NotFound(TRACE_NOT_FOUND)
        return trace

    def _load_with_services(self, raw_id: str) -> tuple[Trace, list[str]]:
        trace = self._load(raw_id)
        return trace, self._query.get_services()

    async def trace(self, request: Request) -> Response:
        raw_id: str = request.path_params["trace_id"]
        try:
            trace, services = await run_in_threadpool(self._load_with_services, raw_id)
        except InvalidQueryError as exc:
            return self._error_page(request, 400, str(exc))
        except NotFound:
            return self._error_page(request, 404, f"No trace with id {raw_id} is stored.")
        if trace.trace_id != raw_id:
            return RedirectResponse(f"/trace/{trace.trace_id}", status_code=302)
        summary = summarize(trace)
        colours = formatting.colour_indexes(services)
        return self._page(
            request, "trace.html", {"page": "trace", "summary": summary, "colours": colours}
        )

    async def trace_data(self, request: Request) -> Response:
        trace, services = await run_in_threadpool(
            self._load_with_services, request.path_params["trace_id"]
        )
        data = await run_in_threadpool(_trace_data, trace, formatting.colour_indexes(services))
        return JSONResponse(data)

    async def trace_otlp(self, request: Request) -> Response:
        trace = await run_in_threadpool(self._load, request.path_params["trace_id"])
        body = await run_in_threadpool(encode_json, trace.spans)
        disposition = f'attachment; filename="trace-{trace.trace_id}.json"'
        return Response(
            body, media_type="application/json", headers={"Content-Disposition": disposition}
        )

    def _window(self, request: Request) -> TimeWindow:
        return parse_window(request.query_params, self._clock_ns())

    def _window_error(
        self, request: Request, name: str, context: dict[str, Any], exc: FormErrors
    ) -> Response:
        """A page whose window parameters are wrong: the default window and the errors."""
        window = parse_window(QueryParams(), self._clock_ns())
        context.update(window=window, errors=exc.errors)
        return self._page(request, name, context, status_code=400)

    async def service_map(self, request: Request) -> Response:
        context: dict[str, Any] = {"page": "map", "errors": {}, "drawing": None}
        try:
            window = self._window(request)
        except FormErrors as exc:
            return self._window_error(request, "map.html", context, exc)
        service_map, services = await run_in_threadpool(
            lambda: (
                self._query.get_service_map(window.end_ns, window.length_ns),
                self._query.get_services(),
            )
        )
        colours = formatting.colour_indexes(services)
        context.update(
            window=window,
            service_map=service_map,
            drawing=draw_service_map(service_map, colours),
            search_params=window.params(),
        )
        return self._page(request, "map.html", context)

    async def services(self, request: Request) -> Response:
        context: dict[str, Any] = {"page": "services", "errors": {}, "stats": []}
        service = request.query_params.get("service") or None
        context["service"] = service or ""
        try:
            window = self._window(request)
        except FormErrors as exc:
            return self._window_error(request, "services.html", context, exc)
        stats, services = await run_in_threadpool(
            lambda: (
                self._query.get_service_stats(window.end_ns, window.length_ns, service),
                self._query.get_services(),
            )
        )
        context.update(
            window=window,
            stats=stats,
            services=services,
            colours=formatting.colour_indexes(services),
            search_params=window.params(),
        )
        return self._page(request, "services.html", context)
