"""Simulated history straight into a database: simulate days offline into edge outbox files, then replay them.

No broker on the way (:mod:`ingest.replay` runs the same validation and writer as the live consumer), so a month of
history loads in minutes: for the metrics tests, the benchmarks and a cockpit with weeks to show.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg

from ingest.imports import import_file
from ingest.replay import ReplayStats, replay_outboxes
from ingest.storage import migrate
from ingest.validation import Validator
from mallsense.site import Site
from models import materialize
from simulator.run import simulate

BATCH_S = 600.0  # simulated seconds per batch: fewer, fuller batches than the live default
PROGRESS_EVERY_S = 5.0


def _pending(outbox_file: Path) -> int:
    with closing(sqlite3.connect(outbox_file)) as db:
        return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])


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
    files = sorted(boxes.glob("*.db"))
    total = sum(_pending(f) for f in files)
    last = [time.monotonic()]

    def report(stats: ReplayStats) -> None:
        if progress and time.monotonic() - last[0] >= PROGRESS_EVERY_S:
            last[0] = time.monotonic()
            print(f"loading: {stats.batches:,}/{total:,} batches ({100 * stats.batches / max(1, total):.0f} %), "
                  f"{stats.total_rows:,} rows", flush=True)

    with psycopg.connect(dsn, autocommit=True) as conn:
        stats = replay_outboxes(conn, files, validator, on_chunk=report)
        if progress:
            print(f"loaded {stats.batches:,} batches, {stats.total_rows:,} rows; refreshing visits and stays…",
                  flush=True)
        for kind in ("members", "transactions"):  # the CRM and POS exports, as a mall would import them
            import_file(conn, site.site.id, outdir / "truth" / f"{kind}.csv", kind, site)
        presence = materialize.refresh(conn, site, start, start + timedelta(days=days - 1))
        conn.execute("ANALYZE")  # fresh planner statistics after a bulk load (autovacuum would get there later)
    shutil.rmtree(boxes, ignore_errors=True)
    summary["presence"] = presence
    summary["replay"] = {"batches": stats.batches, "rows": stats.total_rows, "dead_letters": stats.dead_letters}
    return summary
