"""The mallsense cockpit: a Dash Pages application (one module per page under ``dashboards/pages``).

Every page and callback needs a login (:mod:`dashboards.auth`); the navigation shows the pages the user's role may
see, and each page's callbacks check the role again on the server. The analysis pages share the filter bar (date
range, floor, zone) of the top of the shell; it stays set while moving between pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dash
from dash import Dash, Input, Output, callback, dcc, html

from dashboards import auth, context
from dashboards.analysis import filter_bar
from dashboards.context import POOL_TIMEOUT_S
from dashboards.guard import log_unhandled
from mallsense.site import Site

PAGES = Path(__file__).resolve().parent / "pages"
ASSETS = Path(__file__).resolve().parent / "assets"
NO_FILTERS = ("/", "/404")  # pages that do not use the filter bar


def create_app(dsn: str, site: Site, *, pool_timeout_s: float = POOL_TIMEOUT_S, login: bool = True,
               secret_key: bytes | None = None) -> Dash:
    """Build the cockpit for one site reading the database at ``dsn``.

    ``app.server`` is the WSGI application (``gunicorn 'dashboards.wsgi:server'`` or the factory
    ``'dashboards.wsgi:create_server()'``). Pages reach the site and the connection pool through
    :mod:`dashboards.context`; ``pool_timeout_s`` bounds how long a refresh waits for a database connection.
    ``login=False`` leaves out the login gate: only for tests that call the Live page's callbacks directly; the
    analysis pages refuse every callback without a logged-in user anyway. ``secret_key`` signs session cookies
    (default: ``MALLSENSE_COCKPIT_SECRET`` or ``MALLSENSE_COCKPIT_SECRET_FILE``).
    """
    context.configure(site, dsn, pool_timeout_s=pool_timeout_s)
    app = Dash(
        "dashboards", use_pages=True, pages_folder=str(PAGES), assets_folder=str(ASSETS),
        title=f"mallsense · {site.site.name}", update_title=None, suppress_callback_exceptions=True,
        on_error=log_unhandled, health_endpoint="healthz",
    )

    def shell() -> html.Div:
        user = auth.current_user()
        links = [dcc.Link(page["name"], href=page["relative_path"], className="nav-link")
                 for page in dash.page_registry.values()
                 if page.get("nav", True) and (not login or auth.can(page.get("area", "live")))]
        who = [] if user is None else [html.Span(f"{user.username} · {user.role}"), auth.logout_form()]
        return html.Div(className="shell", children=[
            dcc.Location(id="url"),
            html.Header(className="topbar", children=[
                html.Div(className="brand", children=[
                    html.Span("mallsense", className="logo"), html.Span(site.site.name, className="site-name"),
                ]),
                html.Nav(className="nav", children=[*links, html.Span(who, className="user-box")]),
            ]),
            filter_bar(site),
            html.Main(dash.page_container, className="content"),
        ])

    app.layout = shell
    if login:
        auth.install(app, secret_key, lambda: context.current().pool)
    return app


@callback(Output("filter-bar", "className"), Input("url", "pathname"))
def show_filters(pathname: str | None) -> str:
    """The filter bar on the analysis pages only."""
    return "filter-bar hidden" if (pathname or "/") in NO_FILTERS else "filter-bar"


def forbidden(area: str) -> Any:
    """A page body for a user whose role may not open the page (its callbacks refuse as well)."""
    return html.Div(className="forbidden", children=[
        html.H2("Not for your role"),
        html.P(f"This page shows {area.replace('_', ' ')} data, which your role does not give access to. "
               "Ask an administrator if you need it."),
    ])
