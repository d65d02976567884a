"""A simulated month of the demo mall in a database, shared by the metrics tests, the cockpit tests and benchmarks.

Built once per test session (about six minutes on two cores): 30 days at 5 % of the demo mall's volume, simulated
offline through the real edge batching, loaded through ingest's validation and writer, CRM and POS exports imported,
visits and stays materialized (:func:`simulator.backfill.backfill`). Two campaigns run in the month: one with a known
+25 % effect on its target stores, one with none.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg

from mallsense.services import PostgresServer
from mallsense.site import Campaign, Site, load_site
from simulator.backfill import backfill

FIRST, DAYS = date(2026, 10, 24), 30
LAST = date(2026, 11, 22)
SCALE, SEED = 0.05, 11
TRUE_UPLIFT = 0.25


@dataclass(frozen=True)
class Month:
    site: Site
    dsn: str
    truth: Path
    summary: dict[str, Any]


def month_site() -> Site:
    """The demo mall with two campaigns inside the simulated month: one works (+25 %), one does nothing."""
    demo = load_site()

    def stores_of(*categories: str) -> list[str]:
        return [s.id for s in demo.stores if s.category in categories]

    campaigns = [
        Campaign(id="winter-beauty-week", name="Winter Beauty Week", start=datetime(2026, 11, 20, 10),
                 end=datetime(2026, 11, 22, 22), target_stores=demo.campaigns[0].target_stores,
                 control_stores=demo.campaigns[0].control_stores),
        Campaign(id="tech-fair", name="Tech fair (no effect)", start=datetime(2026, 11, 13, 10),
                 end=datetime(2026, 11, 15, 22), target_stores=stores_of("electronics"),
                 control_stores=stores_of("sports", "kids")),
    ]
    simulation = demo.simulation.model_copy(update={"campaign_uplift": {"winter-beauty-week": TRUE_UPLIFT}})
    return demo.model_copy(update={"campaigns": campaigns, "simulation": simulation})


def build_month(server: PostgresServer, out: Path) -> Month:
    """Simulate and load the month into a new database of ``server``.

    For iterating on the tests: with ``MALLSENSE_MONTH_DSN`` and ``MALLSENSE_MONTH_OUT`` (a database and a folder
    made by an earlier build with the same parameters), that month is used as it is instead.
    """
    site = month_site()
    reuse = os.environ.get("MALLSENSE_MONTH_DSN"), os.environ.get("MALLSENSE_MONTH_OUT")
    if all(reuse):
        folder = Path(str(reuse[1]))
        return Month(site, str(reuse[0]), folder / "truth",
                     json.loads((folder / "truth" / "summary.json").read_text()))
    name = f"month_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    dsn = server.dsn.replace("dbname=mallsense", f"dbname={name}")
    summary = backfill(site, dsn, FIRST, DAYS, out, scale=SCALE, seed=SEED, progress=False)
    return Month(site, dsn, out / "truth", summary)
