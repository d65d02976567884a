"""The mallsense cockpit: a Dash Pages application (one module per page under ``dashboards/pages``)."""

from __future__ import annotations

from pathlib import Path

import dash
from dash import Dash, dcc, html

from dashboards import context
from mallsense.site import Site

PAGES = Path(__file__).resolve().parent / "pages"


def create_app(dsn: str, site: Site) -> Dash:
    """Build the cockpit for one site; ``app.server`` is the WSGI app (gunicorn ``dashboards.wsgi:server``)."""
    context.configure(site, dsn)
    app = Dash("dashboards", use_pages=True, pages_folder=str(PAGES), title=f"mallsense — {site.site.name}",
               suppress_callback_exceptions=True, update_title=None)
    app.layout = html.Div(className="shell", children=[
        html.Header(className="topbar", children=[
            html.Div(className="brand", children=[html.Span("mallsense", className="logo"),
                                                  html.Span(site.site.name, className="site-name")]),
            html.Nav(className="nav", children=[
                dcc.Link(page["name"], href=page["relative_path"], className="nav-link")
                for page in dash.page_registry.values() if page.get("nav", True)
            ]),
        ]),
        html.Main(dash.page_container, className="content"),
    ])
    return app
