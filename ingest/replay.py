"""Load edge outbox files straight into the database, without a broker.

For an edge node that was cut off for days and whose SQLite outbox was carried over (or copied off its disk), and for
loading simulated history fast (``mallsense simulate --outbox-dir`` then ``mallsense ingest --replay``). Every batch
goes through the same validation and idempotent writer as the live consumer: a batch already stored is skipped, a
malformed one goes to ``dead_letter``. A batch leaves the outbox file only after the transaction holding it committed,
so an interrupted replay resumes where it stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from edge.outbox import Outbox
from ingest import rollups
from ingest.validation import Rejected, Validator
from ingest.writer import DeadLetter, ms_to_dt, write_flush
from mallsense.contract import NodeState

log = logging.getLogger(__name__)

CHUNK = 200  # batches per transaction
POLL_S = 0.2  # while another process still writes the outboxes: pause between passes that found nothing


@dataclass
class ReplayStats:
    files: int = 0
    batches: int = 0
    new_batches: int = 0
    duplicate_batches: int = 0
    dead_letters: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    oldest_ms: int | None = None  # the oldest observation written (rollups are stale from there)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def replay_outboxes(conn: psycopg.Connection, paths: Iterable[Path | str], validator: Validator, *,
                    chunk: int = CHUNK, on_chunk: Callable[[ReplayStats], None] | None = None,
                    producing: Callable[[], bool] | None = None, poll_s: float = POLL_S,
                    refresh_rollups: bool = True) -> ReplayStats:
    """Write every pending batch of the outbox files at ``paths`` (autocommit ``conn``), then refresh the rollups
    (``refresh_rollups=False``: the caller does, from ``stats.oldest_ms``).

    With ``producing`` (true while another process still writes into those files, e.g. a simulation running beside
    the load), the files are drained again and again until ``producing()`` is false and a last pass found nothing;
    files that do not exist yet are waited for.

    Raises:
        FileNotFoundError: without ``producing``, a path is not an existing file (a replay never creates an outbox).
    """
    files = [Path(p) for p in paths]
    if producing is None:
        for p in files:
            if not p.is_file():
                raise FileNotFoundError(f"{p}: no such outbox file")
    stats = ReplayStats(files=len(files))
    oldest: int | None = None
    opened: dict[Path, Outbox] = {}
    try:
        while True:
            more = producing() if producing is not None else False  # read before the pass: no batch is left behind
            found = 0
            for path in files:
                if path not in opened:
                    if not path.is_file():
                        continue
                    opened[path] = Outbox(path)
                drained, first = _drain(conn, opened[path], validator, chunk, stats, on_chunk)
                found += drained
                if first is not None:
                    oldest = first if oldest is None else min(oldest, first)
            if not more:
                break
            if not found:
                time.sleep(poll_s)
    finally:
        for outbox in opened.values():
            outbox.close()
    stats.oldest_ms = oldest
    if oldest is not None and refresh_rollups:
        rollups.refresh(conn, ms_to_dt(oldest))
    log.info("replay: %d batches from %d files, %d new, %d rows, %d dead-lettered", stats.batches, stats.files,
             stats.new_batches, stats.total_rows, stats.dead_letters)
    return stats


def _drain(conn: psycopg.Connection, outbox: Outbox, validator: Validator, chunk: int, stats: ReplayStats,
           on_chunk: Callable[[ReplayStats], None] | None) -> tuple[int, int | None]:
    """Write the outbox's pending batches, ``chunk`` per transaction; returns (batches taken, oldest timestamp)."""
    taken, oldest = 0, None
    while pending := outbox.peek(0, chunk):
        batches, states, dead = [], [], []
        for p in pending:
            try:
                decoded = validator.decode(p.topic, p.payload)
            except Rejected as rej:
                dead.append(DeadLetter(p.topic, rej.reason, rej.detail, p.payload))
                continue
            if isinstance(decoded, NodeState):
                states.append(decoded)
            elif decoded is not None:
                batches.append(decoded)
                first = min((o.ts for o in decoded.obs), default=None)
                if first is not None:
                    oldest = first if oldest is None else min(oldest, first)
        with conn.transaction():
            result = write_flush(conn, batches, states, dead)
        outbox.remove([p.id for p in pending])
        taken += len(pending)
        stats.batches += len(pending)
        stats.new_batches += result.new_batches
        stats.duplicate_batches += result.duplicate_batches
        stats.dead_letters += result.dead_letters
        for table, n in result.rows.items():
            stats.rows[table] = stats.rows.get(table, 0) + n
        if on_chunk is not None:
            on_chunk(stats)
    return taken, oldest
