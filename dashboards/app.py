"""The mallsense cockpit: a Dash Pages application (one module per page under ``dashboards/pages``)."""

from __future__ import annotations

from pathlib import Path

import dash
from dash import Dash, dcc, html

from dashboards import context
from dashboards.context import POOL_TIMEOUT_S
from dashboards.guard import log_unhandled
from mallsense.site import Site

PAGES = Path(__file__).resolve().parent / "pages"
ASSETS = Path(__file__).resolve().parent / "assets"


def create_app(dsn: str, site: Site, *, pool_timeout_s: float = POOL_TIMEOUT_S) -> Dash:
    """Build the cockpit for one site reading the database at ``dsn``.

    ``app.server`` is the WSGI application (``gunicorn 'dashboards.wsgi:server'`` or the factory
    ``'dashboards.wsgi:create_server()'``). Pages reach the site and the connection pool through
    :mod:`dashboards.context`; ``pool_timeout_s`` bounds how long a refresh waits for a database connection.
    """
    context.configure(site, dsn, pool_timeout_s=pool_timeout_s)
    app = Dash(
        "dashboards", use_pages=True, pages_folder=str(PAGES), assets_folder=str(ASSETS),
        title=f"mallsense · {site.site.name}", update_title=None, suppress_callback_exceptions=True,
        on_error=log_unhandled, health_endpoint="healthz",
    )
    app.layout = html.Div(className="shell", children=[
        html.Header(className="topbar", children=[
            html.Div(className="brand", children=[
                html.Span("mallsense", className="logo"), html.Span(site.site.name, className="site-name"),
            ]),
            html.Nav(className="nav", children=[
                dcc.Link(page["name"], href=page["relative_path"], className="nav-link")
                for page in dash.page_registry.values() if page.get("nav", True)
            ]),
        ]),
        html.Main(dash.page_container, className="content"),
    ])
    return app
