"""Security headers on every cockpit response, and a server banner without versions.

:func:`install` adds, to pages, Dash callbacks, assets, redirects and errors alike: a Content-Security-Policy
(scripts from the cockpit itself plus the SHA-256 hashes of Dash's inline scripts, no framing, forms only to the
cockpit), ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
``Cache-Control: no-store`` on everything but the static files (pages and callbacks may hold member data), and
``Strict-Transport-Security`` behind TLS. A response that set its own policy (the login page: no scripts at all)
keeps it.

The werkzeug development server names itself ``Werkzeug/<version> Python/<version>`` whatever the application
does; run it with :class:`RequestHandler` (``mallsense cockpit`` and ``mallsense demo`` do). gunicorn sends
``Server: gunicorn`` without its version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Response, request
from werkzeug.serving import WSGIRequestHandler

if TYPE_CHECKING:
    from dash import Dash

BANNER = "mallsense"
# Dash's components set styles at run time (react-select, the date picker): inline styles stay allowed
POLICY = ("default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
          "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
          "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
FIXED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class RequestHandler(WSGIRequestHandler):
    """werkzeug's request handler, answering ``Server: mallsense`` instead of its and Python's versions."""

    def version_string(self) -> str:
        return BANNER


def install(app: Dash, *, https: bool = False) -> None:
    """Add the headers to every response of ``app.server`` (call once, after the app is built)."""
    prefix = app.config.routes_pathname_prefix
    static = (prefix + app.config.assets_url_path.strip("/") + "/", prefix + "_dash-component-suites/")

    def secure(response: Response) -> Response:
        headers = response.headers
        if "Content-Security-Policy" not in headers:
            headers["Content-Security-Policy"] = POLICY.format(hashes=" ".join(app.csp_hashes()))
        for name, value in FIXED.items():
            headers.setdefault(name, value)
        if not (request.path.startswith(static) and response.status_code < 400):
            headers["Cache-Control"] = "no-store"  # pages and callbacks may hold member data
        if https:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    app.server.after_request(secure)
