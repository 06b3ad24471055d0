"""traceway's web UI: server-rendered pages (Jinja2) with small hand-written JS modules.

The routes live in ``traceway.api.ui``; this package holds what the pages are made of:
form parsing, formatting, chart and map geometry, the trace view's JSON, templates and
static files. Nothing here reads storage: the query service does.
"""
