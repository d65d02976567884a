"""The demo's history is built once into a template, copied fresh on every start, rebuilt when its inputs change."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from mallsense.demo_history import TEMPLATE, demo_site, ensure_history
from mallsense.services import PostgresServer
from mallsense.site import load_site

pytestmark = pytest.mark.integration
LIVE = date(2026, 11, 28)
SCALE = 0.004


def _count(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_built_once_copied_fresh_and_rebuilt_when_the_inputs_change(tmp_path):
    pg = PostgresServer(tmp_path / "pg", fast=True).start()
    try:
        site = demo_site(load_site(), LIVE, 1)
        first = ensure_history(pg, site, LIVE, 1, scale=SCALE, workdir=tmp_path / "h", progress=False)
        assert first.built and (first.first, first.last) == (date(2026, 11, 27), date(2026, 11, 27))
        crossings, members = _count(pg.dsn, "crossing"), _count(pg.dsn, "member")
        assert crossings > 0 and members > 0 and _count(pg.dsn, "pos_transaction") > 0
        assert _count(pg.dsn, "presence_day") == 1  # visits and stays materialized for the day
        with psycopg.connect(pg.admin_dsn) as conn:
            assert conn.execute("SELECT datistemplate, datallowconn FROM pg_database WHERE datname = %s",
                                (TEMPLATE,)).fetchone() == (True, False)
        with psycopg.connect(pg.dsn, autocommit=True) as conn:  # the live day writes into the copy only
            conn.execute("DELETE FROM crossing")

        again = ensure_history(pg, site, LIVE, 1, scale=SCALE, workdir=tmp_path / "h", progress=False)
        assert not again.built
        assert _count(pg.dsn, "crossing") == crossings and _count(pg.dsn, "member") == members

        other = ensure_history(pg, site, LIVE, 1, scale=2 * SCALE, workdir=tmp_path / "h", progress=False)
        assert other.built and _count(pg.dsn, "crossing") > crossings

        none = ensure_history(pg, site, LIVE, 0, scale=SCALE, workdir=tmp_path / "h", progress=False)
        assert not none.built and none.first is None
        with psycopg.connect(pg.dsn) as conn:  # an empty database: the schema comes with migrate()
            assert conn.execute("SELECT to_regclass('crossing')").fetchone() == (None,)
    finally:
        pg.stop()
