"""Simulated history straight into a database: simulate days offline into edge outbox files, then replay them.

No broker on the way (:mod:`ingest.replay` runs the same validation and writer as the live consumer), so a month of
history loads in minutes: for the metrics tests, the benchmarks and a cockpit with weeks to show.
"""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg

from ingest import rollups
from ingest.imports import import_file
from ingest.replay import ReplayStats, replay_outboxes
from ingest.storage import migrate
from ingest.validation import Validator
from ingest.writer import ms_to_dt
from mallsense.site import Site
from models import materialize
from simulator.run import simulate

BATCH_S = 600.0  # simulated seconds per batch: fewer, fuller batches than the live default
PROGRESS_EVERY_S = 5.0


def _pending(outbox_file: Path) -> int:
    with closing(sqlite3.connect(outbox_file)) as db:
        return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])


def _simulate_offline(site: Site, start: date, days: int, outdir: Path, scale: float, seed: int, progress: bool,
                      members_as_of: date | None, batch_s: float) -> dict[str, Any]:
    """The simulation half of a backfill (run in a worker process): days into the nodes' outbox files."""
    return simulate(site, start, days, broker=None, outdir=outdir, scale=scale, seed=seed, batch_s=batch_s,
                    progress=progress, outbox_dir=outdir / "outbox", members_as_of=members_as_of)


def backfill(site: Site, dsn: str, start: date, days: int, outdir: Path | str, *, scale: float = 1.0, seed: int = 0,
             progress: bool = True, members_as_of: date | None = None, batch_s: float = BATCH_S) -> dict[str, Any]:
    """Simulate ``days`` days from ``start``, load them into ``dsn`` (migrated first) with the CRM and POS exports,
    materialize their visits and store stays; returns the simulation summary.

    The simulation runs in a worker process and the load drains its outbox files while it runs, so the two halves
    share the machine's cores (about half the time of one after the other on two cores). ``members_as_of``: see
    :func:`simulator.run.simulate`. ``batch_s``: simulated seconds per batch; the sensing noise is consumed window
    by window, so another value gives another, equally valid, history (longer batches load a little faster).
    """
    began = time.monotonic()
    outdir = Path(outdir)
    boxes = outdir / "outbox"
    shutil.rmtree(boxes, ignore_errors=True)
    migrate(dsn)
    validator = Validator({site.site.id: site}, max_future_s=float("inf"))
    files = [boxes / f"{node}.db" for node in sorted(site.nodes)]
    last = [time.monotonic()]

    def report(stats: ReplayStats) -> None:
        if progress and time.monotonic() - last[0] >= PROGRESS_EVERY_S:
            last[0] = time.monotonic()
            print(f"loading: {stats.batches:,} batches, {stats.total_rows:,} rows", flush=True)

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool, \
            psycopg.connect(dsn, autocommit=True) as conn:
        simulation = pool.submit(_simulate_offline, site, start, days, outdir, scale, seed, progress, members_as_of,
                                 batch_s)
        stats = replay_outboxes(conn, files, validator, on_chunk=report, producing=lambda: not simulation.done(),
                                refresh_rollups=False)
        summary = simulation.result()  # re-raises the simulation's error
        left = sum(_pending(f) for f in files if f.is_file())
        if left:  # cannot happen: the last pass ran after the simulation had finished
            raise RuntimeError(f"backfill: {left} batches left in {boxes} after the load")
        if progress:
            print(f"loaded {stats.batches:,} batches, {stats.total_rows:,} rows in {time.monotonic() - began:.0f} s; "
                  "refreshing rollups, visits and stays…", flush=True)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollups") as background:
            if stats.oldest_ms is not None:  # the rollups on two connections, beside the imports and visits
                refreshed = background.submit(rollups.refresh_concurrently, dsn, ms_to_dt(stats.oldest_ms))
            for kind in ("members", "transactions"):  # the CRM and POS exports, as a mall would import them
                import_file(conn, site.site.id, outdir / "truth" / f"{kind}.csv", kind, site)
            presence = materialize.refresh(conn, site, start, start + timedelta(days=days - 1))
            if stats.oldest_ms is not None:
                refreshed.result()
        conn.execute("ANALYZE")  # fresh planner statistics after a bulk load (autovacuum would get there later)
    if progress:
        print(f"history ready in {time.monotonic() - began:.0f} s", flush=True)
    shutil.rmtree(boxes, ignore_errors=True)
    summary["presence"] = presence
    summary["replay"] = {"batches": stats.batches, "rows": stats.total_rows, "dead_letters": stats.dead_letters}
    return summary
