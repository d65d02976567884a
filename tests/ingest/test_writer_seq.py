"""write_flush tells a redelivery from a reused seq by the batch digest, within one flush and against old rows."""

from __future__ import annotations

import psycopg

from ingest.writer import SEQ_CONFLICT, write_flush
from mallsense.contract import OccupancyBatch, OccupancyObs

T0 = 1_764_547_200_000


def batch(seq: int, count: int, epoch: str | None = None) -> OccupancyBatch:
    return OccupancyBatch(site="demo", node="node-1", sensor="cam-1", seq=seq, sent=T0, epoch=epoch,
                          obs=[OccupancyObs(ts=T0, zone="f1-atrium", count=count)])


def test_conflicts_within_a_flush_and_rows_without_digest(db_dsn):
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        with conn.transaction():
            result = write_flush(conn, [batch(0, 1), batch(0, 1), batch(0, 2), batch(1, 3), batch(0, 4, "e1")], [], [])
        assert (result.new_batches, result.duplicate_batches, result.dead_letters) == (3, 1, 1)
        assert result.conflicts == {("demo", "cam-1"): 1}
        assert conn.execute("SELECT reason, detail LIKE '%seq 0 (no epoch)%' FROM dead_letter").fetchall() == [
            (SEQ_CONFLICT, True)]
        assert sorted(r[0] for r in conn.execute("SELECT count FROM occupancy")) == [1, 3, 4]

        conn.execute("UPDATE ingest_batch SET digest = NULL WHERE seq = 1")  # stored before digests: unknown
        with conn.transaction():
            result = write_flush(conn, [batch(1, 9), batch(0, 5, "e1")], [], [])
        assert (result.new_batches, result.duplicate_batches, result.dead_letters) == (0, 1, 1)
        assert conn.execute("SELECT count(*) FROM dead_letter WHERE detail LIKE '%seq 0 epoch e1 %'").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM occupancy").fetchone() == (3,)
