"""WSGI entry point for production: ``gunicorn 'dashboards.wsgi:server'``.

Reads ``MALLSENSE_DSN`` (database) and ``MALLSENSE_SITE`` (site file; default: the demo mall).
"""

from __future__ import annotations

import os

from dashboards.app import create_app
from mallsense.settings import dsn_from
from mallsense.site import load_site

app = create_app(dsn_from(None), load_site(os.environ.get("MALLSENSE_SITE")))
server = app.server
