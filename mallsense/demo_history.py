"""The demo's history: weeks of the simulated mall before the live day, built once per home and reused.

``mallsense demo`` shows a product, not an empty shell, so the cockpit needs weeks behind the live day: footfall
trends, repeat visits, co-visits between shops, sales, and campaigns to measure. :func:`ensure_history` builds them
with :func:`simulator.backfill.backfill` (the simulator's edge batches through ingest's validation and writer, the
CRM and POS exports imported, visits and store stays materialized) into a template database, ``mallsense_history``,
labelled with what it was built from. Every start then copies that template into a fresh ``mallsense`` database (a
file copy: seconds), and the live day runs on top. A later start with the same site, live day, length, scale and
schema reuses the template; anything else rebuilds it.

:func:`demo_site` moves the site's campaigns into the history (the demo mall's campaigns are dated in the site file,
which would leave them outside the demo's weeks) and adds one that does nothing, so the Campaigns page shows one
interval away from zero and one around it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import errors, sql

from ingest.storage import schema_version
from mallsense.services import DB_NAME, PostgresServer
from mallsense.site import Campaign, Site

log = logging.getLogger(__name__)

TEMPLATE = "mallsense_history"
BUILDING = "mallsense_history_build"
FORMAT = 1  # bump when what the history holds changes without the site, the schema or the parameters changing
NO_EFFECT_ID = "demo-no-effect"
# a campaign that works, works this much in the demo at least: at the demo's small volume a shop sees a few dozen
# entries a day, and the site file's +25 % would sit inside its own interval (about ±30 % over a weekend)
DEMO_UPLIFT = 0.5
CAMPAIGN_DAYS = 7  # and it runs a week at least: three days of a few dozen entries give an interval of ±50 %
HISTORY_BATCH_S = 3600.0  # simulated seconds per edge batch: a sixth of backfill's batches, about 10 % faster
COPY_TRIES = 20  # the template may still hold a closing connection (autovacuum, the build's last one)


@dataclass(frozen=True)
class History:
    """What :func:`ensure_history` did: ``built`` (False: reused), its days and how long it took."""

    built: bool
    first: date | None
    last: date | None
    seconds: float


def _db_dsn(pg: PostgresServer, name: str) -> str:
    return pg.dsn.replace(f"dbname={DB_NAME}", f"dbname={name}")


def _moved(campaign: Campaign, last_day: date) -> tuple[datetime, datetime]:
    """The campaign as a run of at least ``CAMPAIGN_DAYS`` days ending on ``last_day``, from its opening hour on the
    first day to its closing hour on the last."""
    length = max((campaign.end.date() - campaign.start.date()).days + 1, CAMPAIGN_DAYS)
    first = last_day - timedelta(days=length - 1)
    return (datetime.combine(first, campaign.start.timetz()), datetime.combine(last_day, campaign.end.timetz()))


def _no_effect(site: Site, used: set[str]) -> tuple[str, list[str], list[str]] | None:
    """Targets and controls for a campaign that does nothing: the largest store category not already in a campaign,
    against the stores of the next two such categories."""
    by_category = Counter(s.category for s in site.stores if s.id not in used)
    ranked = [c for c, _ in by_category.most_common()]
    if len(ranked) < 2:
        return None
    target = [s.id for s in site.stores if s.category == ranked[0] and s.id not in used]
    control = [s.id for s in site.stores if s.category in ranked[1:3] and s.id not in used]
    return ranked[0], target, control


def demo_site(site: Site, live_day: date, history_days: int) -> Site:
    """The site with its campaigns inside the history before ``live_day``.

    The n-th campaign of the site runs (for ``CAMPAIGN_DAYS`` at least) until the n-th week before the live day, with a
    simulated effect of at least ``DEMO_UPLIFT``; a campaign with no effect runs on the days of the first, on other
    stores. Campaigns that would start less than a week into the history (too little before them to compare with)
    are left out; with no history the site is returned as it is.
    """
    if history_days <= 0:
        return site
    first_day = live_day - timedelta(days=history_days)
    campaigns = []
    uplift = {k: max(v, DEMO_UPLIFT) if v > 0 else v for k, v in site.simulation.campaign_uplift.items()}
    for n, c in enumerate(site.campaigns):
        start, end = _moved(c, live_day - timedelta(days=1 + 7 * n))
        if start.date() >= first_day + timedelta(days=7):
            campaigns.append(c.model_copy(update={"start": start, "end": end}))
    if campaigns:  # the same days as the latest one, on other stores
        latest, used = campaigns[0], {s for c in campaigns for s in (*c.target_stores, *c.control_stores)}
        stores = _no_effect(site, used)
        if stores is not None:
            category, targets, controls = stores
            campaigns.append(Campaign(id=NO_EFFECT_ID, name=f"{category.capitalize()} week (no effect expected)",
                                      start=latest.start, end=latest.end, target_stores=targets,
                                      control_stores=controls))
            uplift.pop(NO_EFFECT_ID, None)
    simulation = site.simulation.model_copy(update={"campaign_uplift": {
        k: v for k, v in uplift.items() if k in {c.id for c in campaigns}}})
    return site.model_copy(update={"campaigns": campaigns, "simulation": simulation})


def history_label(site: Site, live_day: date, days: int, scale: float, seed: int) -> str:
    """What a history is built from, as one line (kept as the template database's comment)."""
    digest = hashlib.sha256(site.model_dump_json().encode()).hexdigest()[:16]
    return json.dumps({"format": FORMAT, "site": digest, "live_day": live_day.isoformat(), "days": days,
                       "scale": scale, "seed": seed, "schema": schema_version()}, sort_keys=True)


def _label_of(conn: psycopg.Connection, name: str) -> str | None:
    row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                       (name,)).fetchone()
    return None if row is None else (row[0] or "")


def drop_database(conn: psycopg.Connection, name: str) -> None:
    """Drop ``name`` if it exists, a template too (autocommit ``conn`` to another database)."""
    if conn.execute("SELECT datistemplate FROM pg_database WHERE datname = %s", (name,)).fetchone() == (True,):
        conn.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(sql.Identifier(name)))
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _build(pg: PostgresServer, site: Site, first: date, days: int, scale: float, seed: int, workdir: Path,
           label: str, progress: bool) -> None:
    from simulator.backfill import backfill

    with psycopg.connect(pg.admin_dsn, autocommit=True) as conn:
        drop_database(conn, BUILDING)  # an interrupted build
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BUILDING)))
    backfill(site, _db_dsn(pg, BUILDING), first, days, workdir, scale=scale, seed=seed, progress=progress,
             members_as_of=first, batch_s=HISTORY_BATCH_S)
    with psycopg.connect(pg.admin_dsn, autocommit=True) as conn:
        drop_database(conn, TEMPLATE)
        conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(BUILDING),
                                                                       sql.Identifier(TEMPLATE)))
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(TEMPLATE), sql.Literal(label)))
        # a template nobody connects to (TimescaleDB's job scheduler included): every copy can start at once
        conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(
            sql.Identifier(TEMPLATE)))


def _copy_template(conn: psycopg.Connection) -> None:
    """``mallsense`` := a file copy of the template (retried while a last connection to the template closes)."""
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY = FILE_COPY").format(
        sql.Identifier(DB_NAME), sql.Identifier(TEMPLATE))
    for attempt in range(COPY_TRIES):
        try:
            conn.execute(statement)
            return
        except errors.ObjectInUse:
            if attempt == COPY_TRIES - 1:
                raise
            time.sleep(0.5)


def ensure_history(pg: PostgresServer, site: Site, live_day: date, days: int, *, scale: float, seed: int = 0,
                   workdir: Path, progress: bool = True) -> History:
    """Give ``pg`` a fresh ``mallsense`` database holding the ``days`` days before ``live_day`` (none: empty).

    The history is built into the template database only when no template with the same label exists.
    """
    began = time.monotonic()
    with psycopg.connect(pg.admin_dsn, autocommit=True) as conn:
        drop_database(conn, DB_NAME)
        if days <= 0:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
            return History(False, None, None, time.monotonic() - began)
        label = history_label(site, live_day, days, scale, seed)
        built = _label_of(conn, TEMPLATE) != label
    first = live_day - timedelta(days=days)
    if built:
        if progress:
            print(f"building the demo's history: {days} days from {first:%a %d %b %Y} at scale {scale:g} "
                  "(once per home; later starts reuse it)", flush=True)
        _build(pg, site, first, days, scale, seed, workdir, label, progress)
    with psycopg.connect(pg.admin_dsn, autocommit=True) as conn:
        _copy_template(conn)
    return History(built, first, live_day - timedelta(days=1), time.monotonic() - began)
