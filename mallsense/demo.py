"""``mallsense demo``: the whole system on one machine, on the embedded simulated mall.

Starts a private PostgreSQL and Mosquitto under ``--home``, applies the schema, runs ingest, the simulator (a
recent Saturday: the morning published at once, then live at ``--speed``) and the cockpit on 127.0.0.1. Ctrl-C
stops everything in order. The demo database is recreated on every start (the simulator replays the same days).
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
from mallsense.services import DB_NAME, MosquittoServer, PostgresServer
from mallsense.site import Site, load_site

log = logging.getLogger(__name__)
DEMO_DAYS = 7
DEMO_USER = "admin"
MATERIALIZE_EVERY_S = 60.0


def demo_start_day(site: Site, today: date | None = None) -> date:
    """The most recent Saturday whose whole demo week lies in the past (ingest refuses future timestamps)."""
    today = today or datetime.now(site.site.tz).date()
    last = today - timedelta(days=DEMO_DAYS)
    return last - timedelta(days=(last.weekday() - 5) % 7)


def _recreate_database(pg: PostgresServer) -> None:
    with psycopg.connect(pg.admin_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def _materialize_loop(dsn: str, site: Site, day: date, stop: threading.Event) -> None:
    """Keep the demo day's visits and store stays materialized for the analysis pages (every minute)."""
    from models import materialize

    while not stop.wait(MATERIALIZE_EVERY_S):
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                materialize.refresh(conn, site, day, day)
        except psycopg.Error as exc:
            log.warning("demo: materializing visits failed (%s); will retry", exc)


def run_demo(args: argparse.Namespace, stop: threading.Event) -> int:
    from dashboards.app import create_app
    from simulator.run import simulate

    site = load_site(args.site)
    home = args.home.resolve()
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
        _recreate_database(pg)
        info = migrate(pg.dsn)
        print(f"database ready on port {pg.port} ({'TimescaleDB' if info.timescale else 'PostgreSQL'}); "
              f"broker on port {mqtt.port}")
        ingest = Ingest(
            IngestConfig(dsn=pg.dsn, broker=ingest_broker),  # client id = its login (the broker binds them)
            Validator({site.site.id: site}),
        ).start()
        day = demo_start_day(site)
        catch_up = datetime.combine(day, time(12, 0), tzinfo=site.site.tz)
        sim = threading.Thread(
            target=simulate,
            name="simulator",
            kwargs=dict(site=site, start_date=day, days=DEMO_DAYS, broker=broker, outdir=home / "sim",
                        scale=args.scale, speed=args.speed, catch_up_until=catch_up, stop_event=stop,
                        progress=False, credentials=broker_auth.passwords),
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
