"""What the cockpit's pages share: the configured site and a database connection pool (set by create_app)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from mallsense.site import Site


@dataclass
class CockpitContext:
    site: Site
    pool: ConnectionPool


_current: CockpitContext | None = None


def configure(site: Site, dsn: str) -> CockpitContext:
    global _current
    if _current is not None:
        _current.pool.close()
    pool = ConnectionPool(dsn, min_size=1, max_size=8, open=True, check=ConnectionPool.check_connection,
                          kwargs={"autocommit": True})
    _current = CockpitContext(site, pool)
    return _current


def current() -> CockpitContext:
    if _current is None:
        raise RuntimeError("the cockpit is not configured: build it with dashboards.app.create_app")
    return _current
