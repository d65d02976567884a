"""The edge node's disk outbox: batches wait here until ingest confirmed them committed (survives restarts).

A batch moves through three states: *pending* (not yet accepted by the broker), *sent* (the broker sent PUBACK;
``sent_at`` set) and gone (ingest reported it committed on the node's ack topic). A sent batch that is not confirmed
within the link's timeout goes back to pending and is published again; ingest is idempotent on ``(sensor, seq)``.

The outbox also owns each sensor's sequence counter, written in the same transaction as the batch it numbers, so a
restart never reuses or skips a ``seq``. And it owns the sequence's ``epoch``: a random id created with the outbox
file and kept in it. A node whose file is lost or replaced starts again at ``seq`` 0 under a new epoch, which ingest
keys on, so the new batches do not collide with the old ones (an in-memory outbox gets a new epoch each time).
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class FullPolicy(StrEnum):
    DROP_OLDEST = "drop_oldest"  # keep the newest data; the dropped count is reported in health
    REJECT_NEW = "reject_new"  # keep the oldest data; new batches are refused (counted as dropped)


def new_epoch() -> str:
    """A fresh sequence epoch: 16 random hex digits (a contract id)."""
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    topic: str
    payload: bytes


class Outbox:
    """A bounded FIFO of batches on SQLite. Thread-safe. ``path=None`` keeps it in memory (tests, simulator)."""

    def __init__(
        self,
        path: Path | str | None,
        *,
        max_batches: int = 1_000_000,
        policy: FullPolicy = FullPolicy.DROP_OLDEST,
    ) -> None:
        if max_batches < 1:
            raise ValueError("max_batches must be at least 1")
        self.max_batches = max_batches
        self.policy = FullPolicy(policy)
        self.dropped = 0
        self._lock = threading.Lock()
        self._seq_lock = threading.Lock()
        target = ":memory:" if path is None else str(path)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
            " payload BLOB NOT NULL, sensor TEXT, seq INTEGER, sent_at REAL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS outbox_batch ON outbox (sensor, seq)")
        self._db.execute("CREATE TABLE IF NOT EXISTS sensor_seq (sensor TEXT PRIMARY KEY, next INTEGER NOT NULL)")
        # the epoch is made once per file (a file from before epochs gets one now; its counters go on)
        self._db.execute("CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.execute("INSERT OR IGNORE INTO outbox_meta (key, value) VALUES ('epoch', ?)", (new_epoch(),))
        self.epoch: str = self._db.execute("SELECT value FROM outbox_meta WHERE key = 'epoch'").fetchone()[0]
        self._db.execute("UPDATE outbox SET sent_at = NULL")  # after a restart, unconfirmed means: send again
        self._depth = self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def next_seq(self, sensor: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT next FROM sensor_seq WHERE sensor = ?", (sensor,)).fetchone()
            return row[0] if row else 0

    def put_batch(self, topic: str, sensor: str, build: Callable[[int], bytes]) -> int:
        """Number the sensor's next batch, build its payload with that ``seq`` and store it, atomically.

        All of a sensor's streams (a camera publishes crossings, occupancy and positions) share one counter, so
        ``(sensor, seq)`` names exactly one batch. Returns the seq (the batch may still be dropped if full).
        """
        with self._seq_lock:
            seq = self.next_seq(sensor)
            self.put(topic, build(seq), sensor=sensor, seq=seq)
            return seq

    def put(self, topic: str, payload: bytes, *, sensor: str | None = None, seq: int | None = None) -> bool:
        """Store a batch; record ``seq + 1`` as the sensor's next number. False if refused (outbox full)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._depth >= self.max_batches:
                    if self.policy is FullPolicy.REJECT_NEW:
                        self.dropped += 1
                        self._advance(sensor, seq)
                        self._db.execute("COMMIT")
                        return False
                    excess = self._depth - self.max_batches + 1
                    self._db.execute(
                        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (excess,)
                    )
                    self._depth -= excess
                    self.dropped += excess
                self._db.execute(
                    "INSERT INTO outbox (topic, payload, sensor, seq) VALUES (?, ?, ?, ?)",
                    (topic, payload, sensor, seq),
                )
                self._advance(sensor, seq)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._depth += 1
            return True

    def _advance(self, sensor: str | None, seq: int | None) -> None:
        if sensor is not None and seq is not None:
            self._db.execute(
                "INSERT INTO sensor_seq (sensor, next) VALUES (?, ?)"
                " ON CONFLICT (sensor) DO UPDATE SET next = excluded.next",
                (sensor, seq + 1),
            )

    def peek(self, after_id: int, limit: int) -> list[Pending]:
        """Pending batches (not sent, or sent and since reset) with id > after_id, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload FROM outbox WHERE id > ? AND sent_at IS NULL ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [Pending(*r) for r in rows]

    def mark_sent(self, ids: Iterable[int], when: float | None = None) -> None:
        """The broker accepted these (PUBACK): wait for ingest's commit report."""
        when = time.time() if when is None else when
        with self._lock:
            self._db.executemany("UPDATE outbox SET sent_at = ? WHERE id = ?", [(when, i) for i in ids])

    def remove(self, ids: list[int]) -> None:
        """Forget these batches (delivery confirmed without commit reports)."""
        if not ids:
            return
        with self._lock:
            cur = self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            self._depth -= cur.rowcount

    def confirm(self, sensor: str, seqs: Iterable[int]) -> int:
        """Ingest committed these batches: delete them. Returns how many were still here."""
        with self._lock:
            cur = self._db.executemany(
                "DELETE FROM outbox WHERE sensor = ? AND seq = ?", [(sensor, s) for s in seqs]
            )
            self._depth -= cur.rowcount
            return cur.rowcount

    def requeue_unconfirmed(self, older_than: float) -> int | None:
        """Sent batches without a commit report since ``older_than`` become pending again; returns the lowest id."""
        with self._lock:
            row = self._db.execute(
                "SELECT min(id), count(*) FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?", (older_than,)
            ).fetchone()
            if not row[1]:
                return None
            self._db.execute("UPDATE outbox SET sent_at = NULL WHERE sent_at IS NOT NULL AND sent_at < ?",
                             (older_than,))
            return row[0]

    def depth(self) -> int:
        return self._depth

    def unsent(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
