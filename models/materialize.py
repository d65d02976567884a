"""Materialize visits and store stays per local day (tables ``app_visit``, ``store_stay``, ``presence_day``), and
sales per day and store (``sales_day``, also refreshed by every transaction import).

Sessionizing a month of BLE sightings takes seconds; the cockpit needs milliseconds. Closed days never change, so
their visits and stays are computed once (:func:`refresh`) with exactly the rules of :mod:`models.presence` and
read back by :func:`load` in the same shape :func:`models.presence.presence` returns. Visits are cut at local
midnight (a mall is closed then). Ingest refreshes today and yesterday every hour; ``mallsense backfill`` refreshes
what it loaded; ``mallsense analytics --from --to`` does it by hand.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pandas as pd
import psycopg

from mallsense.site import Site
from models import history, presence
from models.history import Period
from models.live import Database, _connection

log = logging.getLogger(__name__)


def refresh(conn: psycopg.Connection, site: Site, first: date, last: date) -> dict[str, int]:
    """Recompute the visits and stays of the local days ``first``..``last``; returns totals written."""
    scanners = history.store_of_scanner(site)
    totals = {"days": 0, "visits": 0, "stays": 0}
    day = first
    while day <= last:
        sightings = history.ble_sightings(conn, Period(site, day, day))
        visits, stays = presence.presence(sightings, scanners)
        with conn.transaction():
            for table in ("app_visit", "store_stay", "presence_day"):
                conn.execute(f"DELETE FROM {table} WHERE site = %s AND day = %s", (site.site.id, day))
            with conn.cursor() as cur:
                with cur.copy("COPY app_visit (site, day, visit, dev, start_ts, end_ts, sightings) FROM STDIN") as cp:
                    for v in visits.itertuples(index=False):
                        cp.write_row((site.site.id, day, int(v.visit), v.dev, _ts(v.start), _ts(v.end),
                                      int(v.sightings)))
                with cur.copy("COPY store_stay (site, day, visit, dev, store, start_ts, end_ts, sightings)"
                              " FROM STDIN") as cp:
                    for s in stays.itertuples(index=False):
                        cp.write_row((site.site.id, day, int(s.visit), s.dev, s.store, _ts(s.start), _ts(s.end),
                                      int(s.sightings)))
            conn.execute("INSERT INTO presence_day (site, day, visits, stays) VALUES (%s, %s, %s, %s)",
                         (site.site.id, day, len(visits), len(stays)))
        refresh_sales(conn, site.site.id, site.site.timezone, [day])
        totals["days"] += 1
        totals["visits"] += len(visits)
        totals["stays"] += len(stays)
        day += timedelta(days=1)
    log.info("presence refreshed for %s..%s: %s", first, last, totals)
    return totals


def _ts(ms: int) -> pd.Timestamp:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").to_pydatetime()


def missing_days(db: Database, period: Period) -> list[date]:
    """Days of the period with BLE sightings that are not materialized yet."""
    with _connection(db) as conn:
        done = {r[0] for r in conn.execute(
            "SELECT day FROM presence_day WHERE site = %s AND day BETWEEN %s AND %s",
            (period.site.site.id, period.first, period.last)).fetchall()}
        todo = [d for d in period.days if d not in done]
        if not todo:
            return []
        # a loose index scan would be faster; one probe per missing day is cheap enough and exact
        return [d for d in todo if conn.execute(
            "SELECT EXISTS (SELECT 1 FROM ble_sighting WHERE site = %s AND ts >= %s AND ts < %s)",
            (period.site.site.id, Period(period.site, d, d).since, Period(period.site, d, d).until)).fetchone()[0]]


_KEY = "(day - DATE '2000-01-01')::bigint * 10000000 + visit"  # unique across days


def load_visits(db: Database, period: Period) -> pd.DataFrame:
    """Materialized visits of the period: dev, visit, start, end (ms), sightings, day; ``visit`` is made unique across
    days (day ordinal · 10⁷ + visit)."""
    params = {"site": period.site.site.id, "first": period.first, "last": period.last}
    with _connection(db) as conn:
        rows = conn.execute(f"""
            SELECT dev, {_KEY}, (extract(epoch FROM start_ts) * 1000)::bigint,
                   (extract(epoch FROM end_ts) * 1000)::bigint, sightings, day
            FROM app_visit WHERE site = %(site)s AND day BETWEEN %(first)s AND %(last)s ORDER BY 2""",
                            params).fetchall()
    visits = pd.DataFrame(rows, columns=[*presence.VISIT_COLUMNS, "day"])
    return visits.astype({"start": "int64", "end": "int64"})


def load_stays(db: Database, period: Period) -> pd.DataFrame:
    """Materialized store stays of the period: dev, visit (as in :func:`load_visits`), store, start, end, sightings."""
    params = {"site": period.site.site.id, "first": period.first, "last": period.last}
    with _connection(db) as conn:
        rows = conn.execute(f"""
            SELECT dev, {_KEY}, store, (extract(epoch FROM start_ts) * 1000)::bigint,
                   (extract(epoch FROM end_ts) * 1000)::bigint, sightings
            FROM store_stay WHERE site = %(site)s AND day BETWEEN %(first)s AND %(last)s ORDER BY 2, 4""",
                            params).fetchall()
    return pd.DataFrame(rows, columns=presence.STAY_COLUMNS).astype({"start": "int64", "end": "int64"})


def load(db: Database, period: Period) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Materialized visits and stays of the period (see :func:`load_visits` and :func:`load_stays`)."""
    return load_visits(db, period), load_stays(db, period)


def refresh_sales(conn: psycopg.Connection, site_id: str, tz: str, days: list[date]) -> int:
    """Recompute ``sales_day`` for these local days of a site from ``pos_transaction``; returns rows written."""
    if not days:
        return 0
    with conn.transaction():
        conn.execute("DELETE FROM sales_day WHERE site = %s AND day = ANY(%s)", (site_id, days))
        return conn.execute("""
            INSERT INTO sales_day
            SELECT site, (ts AT TIME ZONE %(tz)s)::date AS day, store_id, count(*), sum(amount),
                   count(*) FILTER (WHERE member_id IS NOT NULL),
                   coalesce(sum(amount) FILTER (WHERE member_id IS NOT NULL), 0)
            FROM pos_transaction
            WHERE site = %(site)s AND ts >= (%(first)s::date)::timestamp AT TIME ZONE %(tz)s
              AND ts < (%(last)s::date + 1)::timestamp AT TIME ZONE %(tz)s
              AND (ts AT TIME ZONE %(tz)s)::date = ANY(%(days)s)
            GROUP BY 1, 2, 3""", {"tz": tz, "site": site_id, "first": min(days), "last": max(days),
                                  "days": days}).rowcount
