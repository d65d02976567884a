"""What the cockpit's pages share: the configured site and a database connection pool (set up by ``create_app``)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from mallsense.site import Site

STATEMENT_TIMEOUT_MS = 10_000  # a slow query fails its panel instead of piling up requests behind it
# How long a refresh waits for a connection. Keep it well under the pages' refresh interval (5 s): the browser drops
# a callback's answer when the next refresh of the same output starts first, so a longer wait while the database is
# down would leave the panels on "Loading…" instead of saying the database is not answering.
POOL_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Cockpit:
    """The site shown and the pool the pages query it through."""

    site: Site
    pool: ConnectionPool


_current: Cockpit | None = None


def configure(site: Site, dsn: str, *, pool_timeout_s: float = POOL_TIMEOUT_S, max_connections: int = 8) -> Cockpit:
    """Point the cockpit at ``site`` and the database ``dsn`` (closing the pool of a previous configuration).

    The pool opens in the background: the cockpit starts while the database is down and its panels say so until it
    answers. ``pool_timeout_s`` is how long a callback waits for a connection before giving up for that refresh.
    """
    global _current
    close()
    pool = ConnectionPool(
        dsn, min_size=1, max_size=max_connections, open=True, timeout=pool_timeout_s, name="cockpit",
        check=ConnectionPool.check_connection,
        kwargs={"autocommit": True, "application_name": "mallsense-cockpit",
                "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"},
    )
    _current = Cockpit(site, pool)
    return _current


def current() -> Cockpit:
    """The configured cockpit; raises if ``create_app`` has not run in this process."""
    if _current is None:
        raise RuntimeError("the cockpit is not configured: build it with dashboards.app.create_app")
    return _current


def close() -> None:
    """Close the pool (idempotent); pages fail until ``configure`` runs again."""
    global _current
    if _current is not None:
        _current.pool.close()
        _current = None
