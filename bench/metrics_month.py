"""Time to compute every metric of 30 days of the demo mall, against the same counts read from the raw tables.

    .venv/bin/python bench/metrics_month.py [--days 30] [--scale 0.1] [--repeat 3] [--dsn DSN]

Simulates ``--days`` days of the demo mall into a private PostgreSQL (or ``--dsn``, which is wiped), then times
  1. ``models.report.compute`` for the whole period (what ``mallsense report`` runs), split into loading and deriving,
     once with visits and store stays sessionized from the raw BLE sightings and once from the materialized tables
     (``models.materialize``, what the cockpit reads),
  2. the count queries it runs on the 1-hour rollups (entrance and store-door flows per day, zone occupancy, people
     per camera), against
  3. the same counts aggregated from the raw observation tables (the baseline the rollups exist to beat),
and prints the medians and the ratio raw / rollup. Scale 1.0 is the demo mall's full volume (~18,000 visitors on a
weekday); the default 0.1 keeps the set-up to a few minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import psycopg

from mallsense.services import PostgresServer
from mallsense.site import load_site
from models import history
from models.history import Period
from models.report import compute, load
from simulator.backfill import backfill

RAW_LINE_DAYS = """
    SELECT (ts AT TIME ZONE %(tz)s)::date, line, count(*) FILTER (WHERE direction = 'in'),
           count(*) FILTER (WHERE direction = 'out')
    FROM crossing WHERE site = %(site)s AND ts >= %(since)s AND ts < %(until)s GROUP BY 1, 2"""
RAW_OCCUPANCY = """
    SELECT zone, avg(count), max(count) FROM occupancy
    WHERE site = %(site)s AND ts >= %(since)s AND ts < %(until)s
      AND (ts AT TIME ZONE %(tz)s)::time >= %(opens)s AND (ts AT TIME ZONE %(tz)s)::time < %(closes)s GROUP BY zone"""
RAW_PEOPLE = """
    SELECT (ts AT TIME ZONE %(tz)s)::date, sensor, count(DISTINCT track) FROM track_position
    WHERE site = %(site)s AND ts >= %(since)s AND ts < %(until)s GROUP BY 1, 2"""


def timed(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dsn", help="use this database (its public schema is dropped first)")
    args = parser.parse_args()
    site = load_site()
    last = date.today() - timedelta(days=2)
    first = last - timedelta(days=args.days - 1)
    with tempfile.TemporaryDirectory(prefix="mallsense-bench-") as tmp:
        server = None
        dsn = args.dsn
        if dsn is None:
            server = PostgresServer(Path(tmp) / "pg").start()
            dsn = server.dsn
        else:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        try:
            t = time.perf_counter()
            summary = backfill(site, dsn, first, args.days, Path(tmp) / "sim", scale=args.scale, progress=True)
            print(f"set-up: {args.days} days at scale {args.scale} simulated and loaded in "
                  f"{time.perf_counter() - t:.0f} s ({summary['replay']['rows']:,} rows)")
            period = Period(site, first, last)
            with psycopg.connect(dsn) as conn:
                for table in ("crossing", "occupancy", "track_position", "wifi_sighting", "ble_sighting"):
                    n = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    print(f"  {table:<16} {n:>12,} rows")
                t_load = timed(lambda: load(conn, period), args.repeat)
                loaded = load(conn, period)
                t_derive = timed(lambda: compute(conn, site, first, last, loaded=loaded), args.repeat)
                t_all = timed(lambda: compute(conn, site, first, last), args.repeat)
                conn.execute("TRUNCATE presence_day")  # force the raw path: sessionize the sightings
                conn.commit()
                t_raw = timed(lambda: compute(conn, site, first, last), max(1, args.repeat // 2))
                params = period.params(opens=site.site.opens, closes=site.site.closes)
                lines = site.entrance_lines + site.store_doors
                pairs = [
                    ("line flows per day", lambda: history.line_days(conn, period, lines),
                     lambda: conn.execute(RAW_LINE_DAYS, params).fetchall()),
                    ("zone occupancy", lambda: history.zone_occupancy(conn, period),
                     lambda: conn.execute(RAW_OCCUPANCY, params).fetchall()),
                    ("people per camera", lambda: history.camera_people(conn, period),
                     lambda: conn.execute(RAW_PEOPLE, params).fetchall()),
                ]
                print(f"\nall metrics, {args.days} days (median of {args.repeat}): {t_all:.2f} s "
                      f"= load {t_load:.2f} s + derive {t_derive:.2f} s (visits and stays materialized)")
                print(f"all metrics, sessionizing the raw BLE sightings instead: {t_raw:.2f} s "
                      f"({t_raw / t_all:.1f}x the materialized path)")
                print(f"{'count query':<22}{'rollup':>10}{'raw':>10}{'raw/rollup':>12}")
                for name, rollup_q, raw_q in pairs:
                    a, b = timed(rollup_q, args.repeat), timed(raw_q, args.repeat)
                    print(f"{name:<22}{a * 1000:>8.1f}ms{b * 1000:>8.1f}ms{b / a:>11.1f}x")
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
