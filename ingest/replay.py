"""Load edge outbox files straight into the database, without a broker.

For an edge node that was cut off for days and whose SQLite outbox was carried over (or copied off its disk), and for
loading simulated history fast (``mallsense simulate --outbox-dir`` then ``mallsense ingest --replay``). Every batch
goes through the same validation and idempotent writer as the live consumer: a batch already stored is skipped, a
malformed one goes to ``dead_letter``. A batch leaves the outbox file only after the transaction holding it committed,
so an interrupted replay resumes where it stopped.
"""

from __future__ import annotations

import logging
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


@dataclass
class ReplayStats:
    files: int = 0
    batches: int = 0
    new_batches: int = 0
    duplicate_batches: int = 0
    dead_letters: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def replay_outboxes(conn: psycopg.Connection, paths: Iterable[Path | str], validator: Validator, *,
                    chunk: int = CHUNK, on_chunk: Callable[[ReplayStats], None] | None = None) -> ReplayStats:
    """Write every pending batch of the outbox files at ``paths`` (autocommit ``conn``), then refresh the rollups.

    Raises:
        FileNotFoundError: a path is not an existing file (an outbox is never created by a replay).
    """
    files = [Path(p) for p in paths]
    for p in files:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such outbox file")
    stats = ReplayStats(files=len(files))
    oldest: int | None = None
    for path in files:
        outbox = Outbox(path)
        try:
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
                stats.batches += len(pending)
                stats.new_batches += result.new_batches
                stats.duplicate_batches += result.duplicate_batches
                stats.dead_letters += result.dead_letters
                for table, n in result.rows.items():
                    stats.rows[table] = stats.rows.get(table, 0) + n
                if on_chunk is not None:
                    on_chunk(stats)
        finally:
            outbox.close()
    if oldest is not None:
        rollups.refresh(conn, ms_to_dt(oldest))
    log.info("replay: %d batches from %d files, %d new, %d rows, %d dead-lettered", stats.batches, stats.files,
             stats.new_batches, stats.total_rows, stats.dead_letters)
    return stats
