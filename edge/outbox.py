"""The edge node's disk outbox: batches wait here until the broker acknowledged them (survives restarts).

Also owns each sensor's sequence counter, written in the same transaction as the batch it numbers, so a restart
never reuses or skips a ``seq``.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class FullPolicy(StrEnum):
    DROP_OLDEST = "drop_oldest"  # keep the newest data; the dropped count is reported in health
    REJECT_NEW = "reject_new"  # keep the oldest data; new batches are refused (counted as dropped)


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    topic: str
    payload: bytes


class Outbox:
    """A bounded FIFO of (topic, payload) on SQLite. Thread-safe. ``path=None`` keeps it in memory (tests, sim)."""

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
        target = ":memory:" if path is None else str(path)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
            " payload BLOB NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS sensor_seq (sensor TEXT PRIMARY KEY, next INTEGER NOT NULL)")
        self._depth = self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def next_seq(self, sensor: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT next FROM sensor_seq WHERE sensor = ?", (sensor,)).fetchone()
            return row[0] if row else 0

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
                self._db.execute("INSERT INTO outbox (topic, payload) VALUES (?, ?)", (topic, payload))
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
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
            ).fetchall()
        return [Pending(*r) for r in rows]

    def remove(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._lock:
            cur = self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            self._depth -= cur.rowcount

    def depth(self) -> int:
        return self._depth

    def close(self) -> None:
        with self._lock:
            self._db.close()
