"""``mallsense demo``: the whole system on one machine, on the embedded simulated mall.

Starts a private PostgreSQL and Mosquitto under ``--home``, gives the database ``--history-days`` of history before
the live day (built once per home, copied on every start: :mod:`mallsense.demo_history`), applies the schema, runs
ingest, the simulator (the live day, a recent Saturday: the morning published at once, then live at ``--speed``)
and the cockpit on 127.0.0.1. Ctrl-C stops everything in order. The live day starts again on every start (the
simulator replays the same days); the history is reused.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import secrets
import threading
from datetime import date, datetime, time, timedelta

import psycopg
from werkzeug.serving import make_server

from edge.publisher import BrokerConfig
from ingest.consumer import Ingest, IngestConfig
from ingest.storage import migrate
from ingest.validation import Validator
from mallsense.broker_auth import INGEST_USER, write_broker_auth
from mallsense.demo_history import TEMPLATE, demo_site, drop_database, ensure_history
from mallsense.services import MosquittoServer, PostgresServer
from mallsense.site import Site, load_site

log = logging.getLogger(__name__)
DEMO_DAYS = 7
DEMO_USER = "admin"
HISTORY_DAYS = 21  # three weeks before the live day: trends, repeat visits and a campaign with two weeks before it
SCALE = 0.02  # share of the site's visitor volume: the first start (history included) in about two minutes
MATERIALIZE_EVERY_S = 60.0
FIRST_MATERIALIZE_S = 5.0  # the live morning's visits soon after the start, then every MATERIALIZE_EVERY_S


def demo_start_day(site: Site, today: date | None = None) -> date:
    """The most recent Saturday whose whole demo week lies in the past (ingest refuses future timestamps)."""
    today = today or datetime.now(site.site.tz).date()
    last = today - timedelta(days=DEMO_DAYS)
    return last - timedelta(days=(last.weekday() - 5) % 7)


def _wipe_history(pg: PostgresServer) -> None:
    with psycopg.connect(pg.admin_dsn, autocommit=True) as conn:
        drop_database(conn, TEMPLATE)


def _materialize_loop(dsn: str, site: Site, day: date, stop: threading.Event) -> None:
    """Keep the demo day's visits and store stays materialized for the analysis pages (every minute)."""
    from models import materialize

    wait = FIRST_MATERIALIZE_S
    while not stop.wait(wait):
        wait = MATERIALIZE_EVERY_S
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                materialize.refresh(conn, site, day, day)
        except psycopg.Error as exc:
            log.warning("demo: materializing visits failed (%s); will retry", exc)


def run_demo(args: argparse.Namespace, stop: threading.Event) -> int:
    from dashboards.app import create_app
    from simulator.run import simulate

    history_days = HISTORY_DAYS if args.history_days is None else args.history_days
    scale = SCALE if args.scale is None else args.scale
    if history_days < 0 or scale <= 0:
        raise SystemExit("mallsense demo: --history-days must be 0 or more and --scale above 0")
    home = args.home.resolve()
    base = load_site(args.site)
    day = demo_start_day(base)
    site = demo_site(base, day, history_days)
    print(f"mallsense demo: private servers under {home}")
    pg = PostgresServer(home / "postgres").start()
    broker_auth = write_broker_auth(home / "broker-auth", [site])  # logins bound to client ids, ACLs, no anonymous
    mqtt = MosquittoServer(home / "mosquitto", auth=broker_auth).start()
    broker = BrokerConfig(port=mqtt.port, min_backoff_s=1, max_backoff_s=5)
    ingest_broker = dataclasses.replace(broker, username=INGEST_USER, password=broker_auth.passwords[INGEST_USER])
    threads: list[threading.Thread] = []
    ingest = None
    web = None
    try:
        if args.fresh:
            _wipe_history(pg)
        history = ensure_history(pg, site, day, history_days, scale=scale, workdir=home / "history")
        if history.first is not None:
            print(f"history {history.first:%d %b} – {history.last:%d %b %Y} "
                  f"{'built' if history.built else 'reused'} in {history.seconds:.0f} s")
        info = migrate(pg.dsn)
        print(f"database ready on port {pg.port} ({'TimescaleDB' if info.timescale else 'PostgreSQL'}); "
              f"broker on port {mqtt.port}")
        ingest = Ingest(
            IngestConfig(dsn=pg.dsn, broker=ingest_broker),  # client id = its login (the broker binds them)
            Validator({site.site.id: site}),
        ).start()
        catch_up = datetime.combine(day, time(12, 0), tzinfo=site.site.tz)
        sim = threading.Thread(
            target=simulate,
            name="simulator",
            kwargs=dict(site=site, start_date=day, days=DEMO_DAYS, broker=broker, outdir=home / "sim",
                        scale=scale, speed=args.speed, catch_up_until=catch_up, stop_event=stop,
                        progress=False, credentials=broker_auth.passwords,
                        members_as_of=history.first or day),  # the history's members come back
            daemon=True,
        )
        sim.start()
        threads.append(sim)
        password = secrets.token_urlsafe(9)
        from dashboards.auth import manage_users

        manage_users(pg.dsn, "add", DEMO_USER, role="admin", password=password)
        (home / "cockpit-login.txt").write_text(f"{DEMO_USER} {password}\n", encoding="utf-8")
        analytics = threading.Thread(target=_materialize_loop, args=(pg.dsn, site, day, stop), name="analytics",
                                     daemon=True)
        analytics.start()
        threads.append(analytics)
        app = create_app(pg.dsn, site, secret_key=secrets.token_bytes(32))
        from dashboards.headers import RequestHandler

        web = make_server("127.0.0.1", args.port, app.server, threaded=True, request_handler=RequestHandler)
        threading.Thread(target=web.serve_forever, name="cockpit", daemon=True).start()
        print(f"simulating {site.site.name} from {catch_up:%a %Y-%m-%d %H:%M} (mall time) at {args.speed:g}x")
        print(f"cockpit: http://127.0.0.1:{args.port}/   log in as {DEMO_USER} / {password}   (Ctrl-C to stop)",
              flush=True)
        while not stop.wait(30):
            s = ingest.stats
            log.info("ingested %d batches, %d rows, %d dead letters", s.new_batches, s.rows, s.dead_letters)
    finally:
        stop.set()
        if web is not None:
            web.shutdown()
        for t in threads:
            t.join(timeout=15)
        if ingest is not None:
            ingest.stop()
        mqtt.stop()
        pg.stop()
        print("mallsense demo stopped")
    return 0
