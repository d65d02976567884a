"""Each cockpit page's data-query latency (p50/p95) on 30 days of the demo mall, rollups against raw tables.

    .venv/bin/python bench/cockpit_pages.py [--dsn DSN --first 2026-10-24 --last 2026-11-22] [--scale 0.05] [--runs 20]

Without ``--dsn`` it first simulates 30 days into a private PostgreSQL (``simulator.backfill``). For every page it
then runs everything the page's charts read, cold (the cockpit's period cache emptied before each run), ``--runs``
times, and prints p50 and p95 — once as the cockpit does it (1-hour rollups or continuous aggregates, visits and
stays materialized per day) and once from the raw tables (crossings, occupancy, positions, and visits sessionized
from the raw BLE sightings), with the ratio. The target is p95 ≤ 300 ms per page.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg

from dashboards import analysis, context
from dashboards.analysis import Selection
from dashboards.app import create_app
from mallsense.services import PostgresServer
from mallsense.site import Site, load_site
from models import live
from models import visitors as visitor_metrics
from models.history import Period
from models.report import Loaded
from simulator.backfill import backfill


def page_queries(site: Site) -> dict[str, Callable[[Selection], object]]:
    """Everything each page's charts read for a selection (the callbacks' data, without the figures)."""
    # the page modules, as Dash Pages imported them for the app built by main()
    campaigns, flows, leasing, members, visitors = (
        importlib.import_module(f"dashboards.pages.{name}")
        for name in ("campaigns", "flows", "leasing", "members", "visitors"))

    def live_page(sel: Selection) -> None:
        pool = context.current().pool
        now = live.data_clock(pool, site.site.id) or datetime.now(site.site.tz)
        live.occupancy_now(pool, site, now)
        live.entrance_flows(pool, site.site.id, now - timedelta(hours=3), live.through(now), "5 minutes",
                            lines=[e.id for e in site.entrances])
        live.entrance_totals(pool, site.site.id, live.local_day_start(site, now), live.through(now),
                             lines=[e.id for e in site.entrances])
        live.heatmap(pool, site.site.id, "f1", now - timedelta(minutes=15), live.through(now), 2.0)
        live.sensor_health(pool, site.site.id)

    def visitors_page(sel: Selection) -> None:
        data = analysis.period_data(sel)
        visitor_metrics.rolling_repeat_rate(data.visits, sel.last, 30)
        _ = int(data.footfall["entries"].sum())
        visitors.returning_frame(sel)
        visitors.frequency_frame(sel)
        visitors.dwell_frame(sel)

    def leasing_page(sel: Selection) -> None:
        leasing.performance_frame(sel)
        leasing.lift_frame(sel)
        leasing.transitions_frame(sel)
        _ = analysis.period_data(sel).occupancy

    return {
        "Live": live_page,
        "Flows": lambda sel: (flows.daily_frame(sel), analysis.period_data(sel).hours, flows.floors_frame(sel),
                              flows.paths_frame(sel)),
        "Visitors": visitors_page,
        "Leasing": leasing_page,
        "Campaigns": lambda sel: (campaigns.results_frame(sel), campaigns.daily_frame(sel)),
        "Members": lambda sel: (members.lifecycle_frame(sel), members.spend_frame(sel), members.tags_frame(sel),
                                members.vip_frame(sel)),
    }


def latencies(fn: Callable[[Selection], object], sel: Selection, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        analysis._cache.clear()  # cold: nothing kept from the previous run
        t = time.perf_counter()
        fn(sel)
        out.append((time.perf_counter() - t) * 1000)
    return out


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", help="a database holding a month already (mallsense backfill)")
    parser.add_argument("--first", help="first day of that month (with --dsn)")
    parser.add_argument("--last", help="last day of that month (with --dsn)")
    parser.add_argument("--scale", type=float, default=0.05, help="volume of the month simulated without --dsn")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--raw-runs", type=int, default=3)
    args = parser.parse_args()
    site = load_site()
    with tempfile.TemporaryDirectory(prefix="mallsense-bench-") as tmp:
        server = None
        if args.dsn:
            dsn, first, last = args.dsn, date.fromisoformat(args.first), date.fromisoformat(args.last)
        else:
            last = date.today() - timedelta(days=2)
            first = last - timedelta(days=29)
            # the demo campaign moved into the month's last three days, so the Campaigns page has work to do
            c = site.campaigns[0]
            moved = c.model_copy(update={"start": datetime.combine(last - timedelta(days=2), c.start.time()),
                                         "end": datetime.combine(last, c.end.time())})
            site = site.model_copy(update={"campaigns": [moved]})
            server = PostgresServer(Path(tmp) / "pg").start()
            dsn = server.dsn
            t = time.perf_counter()
            backfill(site, dsn, first, 30, Path(tmp) / "sim", scale=args.scale, progress=False)
            print(f"set-up: 30 days at scale {args.scale} loaded in {time.perf_counter() - t:.0f} s")
        try:
            create_app(dsn, site)  # configures the context and imports the pages
            sel = Selection(first, last, None, None)
            queries = page_queries(site)
            cooked = {name: latencies(fn, sel, args.runs) for name, fn in queries.items()}
            # the raw baseline on its own connection: the cockpit's pool cancels statements after 10 s
            raw_conn = psycopg.connect(dsn, autocommit=True)
            analysis.period_data = lambda s: Loaded(raw_conn, Period(site, s.first, s.last), raw=True)
            raw = {name: latencies(fn, sel, args.raw_runs) for name, fn in queries.items()}
            print(f"\ncockpit page data, {first} .. {last} (p50 / p95 of {args.runs} cold runs; raw: "
                  f"{args.raw_runs} runs)")
            print(f"{'page':<11}{'p50 ms':>9}{'p95 ms':>9}{'raw p50':>10}{'raw p95':>10}{'raw/rollup':>12}  target")
            for name in queries:
                a, b = cooked[name], raw[name]
                m50, m95, r50, r95 = statistics.median(a), p95(a), statistics.median(b), p95(b)
                ok = "ok" if m95 <= 300 else "OVER"
                print(f"{name:<11}{m50:>9.1f}{m95:>9.1f}{r50:>10.1f}{r95:>10.1f}{r50 / m50:>11.1f}x  {ok}")
        finally:
            context.close()
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
