"""The error boundary around page callbacks: failures are logged and shown as a friendly message, never a traceback."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import psycopg
from dash.exceptions import PreventUpdate
from werkzeug.exceptions import HTTPException

log = logging.getLogger("dashboards")
P = ParamSpec("P")
T = TypeVar("T")

DATABASE_DOWN = "The database is not answering; the cockpit retries every few seconds."
SCHEMA_MISSING = "The database has no mallsense tables yet: run the ingest migrations (mallsense ingest)."


class Refused(ValueError):
    """A request the pages answer with ``message`` instead of data (bad user input, not a failure to log loudly)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def guarded(fallback: Callable[[str], T]) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Run a callback; if it raises, log the error and return ``fallback(message)`` for the browser instead.

    Database outages are logged as one-line warnings (they repeat on every refresh); a :class:`Refused`
    request (a period outside the calendar...) shows its message; anything else is logged with its traceback and a
    short reference that the message shown to the operator repeats.
    """

    def decorate(func: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return func(*args, **kwargs)
            except (PreventUpdate, HTTPException):
                raise  # no update, or a refusal (403 from dashboards.auth.require): not a failure to report
            except Refused as exc:
                log.info("%s: %s", func.__qualname__, exc.message)  # the user's choice, answered in the panel
                return fallback(exc.message)
            except psycopg.errors.UndefinedTable:
                log.error("%s: %s", func.__qualname__, SCHEMA_MISSING)
                return fallback(SCHEMA_MISSING)
            except psycopg.OperationalError as exc:
                log.warning("%s: database unavailable: %s", func.__qualname__, str(exc).strip())
                return fallback(DATABASE_DOWN)
            except Exception:
                ref = uuid.uuid4().hex[:8]
                log.exception("%s failed (ref %s)", func.__qualname__, ref)
                return fallback(f"This panel could not be updated (ref {ref}); the details are in the cockpit's log.")

        return wrapper

    return decorate


def log_unhandled(exc: Exception) -> None:
    """Dash's app-wide ``on_error``: the last resort for callbacks without a guard (their outputs stay as they were).

    A refusal (:class:`dashboards.auth.Forbidden`, an HTTP exception) is passed on, so the caller gets its 403.
    """
    if isinstance(exc, HTTPException):
        raise exc
    log.error("unguarded callback failed: %r", exc, exc_info=exc)
