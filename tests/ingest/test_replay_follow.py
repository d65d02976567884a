"""replay_outboxes beside a process still writing the outboxes: every batch lands once, late files are picked up."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from edge.batching import SensorStream
from edge.outbox import Outbox
from ingest import rollups
from ingest.replay import replay_outboxes
from ingest.validation import Validator
from mallsense.contract import Kind, OccupancyObs
from mallsense.site import load_site

pytestmark = pytest.mark.integration
T0 = int(datetime(2026, 11, 14, 10, tzinfo=UTC).timestamp() * 1000)
BATCHES = 60


def test_follow_mode_drains_files_written_during_the_replay(db_dsn, tmp_path):
    site = load_site()
    cameras = [s for s in site.sensors if s.kind == "camera" and s.zones][:2]
    files = [tmp_path / f"{cam.node}-{cam.id}.db" for cam in cameras]
    done = threading.Event()

    def write() -> None:  # the second file appears only after the replay started
        for k, (cam, path) in enumerate(zip(cameras, files, strict=True)):
            box = Outbox(path)
            stream = SensorStream(box, site.site.id, cam.node, Kind.OCCUPANCY, cam.id)
            for i in range(BATCHES):
                stream.add(OccupancyObs(ts=T0 + 60_000 * i, zone=cam.zones[0], count=k + 1))
                stream.flush(sent_ms=T0 + 60_000 * i + 1)
                time.sleep(0.002)
            box.close()
        done.set()

    writer = threading.Thread(target=write)
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        writer.start()
        stats = replay_outboxes(conn, files, Validator({site.site.id: site}, max_future_s=float("inf")),
                                chunk=7, producing=lambda: not done.is_set(), poll_s=0.01, refresh_rollups=False)
        writer.join()
        assert stats.batches == 2 * BATCHES and stats.new_batches == 2 * BATCHES and stats.dead_letters == 0
        counts = dict(conn.execute("SELECT count, count(*) FROM occupancy WHERE ts >= %s GROUP BY count",
                                   (datetime.fromtimestamp(T0 / 1000, UTC),)).fetchall())
        assert counts == {1: BATCHES, 2: BATCHES}
        assert stats.oldest_ms == T0
        # the rollups were left to the caller: none yet for these rows, then the concurrent refresh fills them
        since = datetime.fromtimestamp(T0 / 1000, UTC)
        assert conn.execute("SELECT count(*) FROM zone_occupancy_1h WHERE bucket >= %s", (since,)).fetchone() == (0,)
    rollups.refresh_concurrently(db_dsn, since)
    with psycopg.connect(db_dsn) as conn:
        samples = conn.execute("SELECT sum(samples) FROM zone_occupancy_1d WHERE bucket >= %s",
                               (since - timedelta(days=1),)).fetchone()[0]
    assert samples == 2 * BATCHES
    for path in files:
        box = Outbox(path)
        assert box.depth() == 0  # everything taken
        box.close()
