"""Simulated history straight into a database: simulate days offline into edge outbox files, then replay them.

No broker on the way (:mod:`ingest.replay` runs the same validation and writer as the live consumer), so a month of
history loads in minutes: for the metrics tests, the benchmarks and a cockpit with weeks to show.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg

from ingest.imports import import_file
from ingest.replay import replay_outboxes
from ingest.storage import migrate
from ingest.validation import Validator
from mallsense.site import Site
from models import materialize
from simulator.run import simulate

BATCH_S = 600.0  # simulated seconds per batch: fewer, fuller batches than the live default


def backfill(site: Site, dsn: str, start: date, days: int, outdir: Path | str, *, scale: float = 1.0, seed: int = 0,
             progress: bool = True) -> dict[str, Any]:
    """Simulate ``days`` days from ``start``, load them into ``dsn`` (migrated first) with the CRM and POS exports,
    materialize their visits and store stays; returns the simulation summary."""
    outdir = Path(outdir)
    boxes = outdir / "outbox"
    shutil.rmtree(boxes, ignore_errors=True)
    migrate(dsn)
    summary = simulate(site, start, days, broker=None, outdir=outdir, scale=scale, seed=seed, batch_s=BATCH_S,
                       progress=progress, outbox_dir=boxes)
    validator = Validator({site.site.id: site}, max_future_s=float("inf"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        stats = replay_outboxes(conn, sorted(boxes.glob("*.db")), validator)
        for kind in ("members", "transactions"):  # the CRM and POS exports, as a mall would import them
            import_file(conn, site.site.id, outdir / "truth" / f"{kind}.csv", kind, site)
        presence = materialize.refresh(conn, site, start, start + timedelta(days=days - 1))
    shutil.rmtree(boxes, ignore_errors=True)
    summary["presence"] = presence
    summary["replay"] = {"batches": stats.batches, "rows": stats.total_rows, "dead_letters": stats.dead_letters}
    return summary
