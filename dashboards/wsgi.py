"""WSGI entry points for production: ``gunicorn 'dashboards.wsgi:server'`` or ``'dashboards.wsgi:create_server()'``.

Both read ``MALLSENSE_DSN`` (the database) and ``MALLSENSE_SITE`` (the site file; default: the demo mall). The app is
built on first access, not on import, so each gunicorn worker opens its own connection pool (do not ``--preload``).
"""

from __future__ import annotations

import os

from dash import Dash
from flask import Flask

from dashboards.app import create_app
from mallsense.settings import dsn_from
from mallsense.site import load_site

_app: Dash | None = None


def create_cockpit() -> Dash:
    """The cockpit configured from the environment (built once per process)."""
    global _app
    if _app is None:
        _app = create_app(dsn_from(None), load_site(os.environ.get("MALLSENSE_SITE")))
    return _app


def create_server() -> Flask:
    """Factory for gunicorn: the cockpit's Flask server."""
    return create_cockpit().server


def __getattr__(name: str) -> object:
    """``app`` and ``server`` as module attributes, built lazily (``dashboards.wsgi:server`` keeps working)."""
    if name == "app":
        return create_cockpit()
    if name == "server":
        return create_server()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
