"""An edge node keeps observing while the broker is gone and delivers everything, once, when it returns."""

from __future__ import annotations

import time

import psycopg
import pytest

from edge.batching import SensorStream
from edge.outbox import Outbox
from edge.publisher import BrokerConfig, EdgeLink
from ingest.consumer import Ingest, IngestConfig
from mallsense.contract import CrossingObs, Kind
from mallsense.services import MosquittoServer
from tests.netfault import CuttableLink

pytestmark = pytest.mark.integration
T0 = 1_764_547_200_000


def rows(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT seq, count(*), min(ts) FROM crossing GROUP BY seq ORDER BY seq").fetchall()


def test_outbox_drains_after_a_network_outage_with_original_timestamps(db_dsn, tmp_path):
    broker_server = MosquittoServer(tmp_path / "mqtt").start()
    broker = BrokerConfig(port=broker_server.port, min_backoff_s=0.2, max_backoff_s=1)
    ingest = Ingest(IngestConfig(dsn=db_dsn, broker=broker, client_id="outage-ingest")).start()
    box = Outbox(tmp_path / "outbox.db")
    network = CuttableLink(broker_server.port)  # the edge reaches the broker through a link we can cut
    edge_broker = BrokerConfig(port=network.port, min_backoff_s=0.2, max_backoff_s=1)
    link = EdgeLink("demo", "node-1", edge_broker, box).start()
    try:
        assert link.wait_connected() and ingest.wait_connected()
        cam = SensorStream(box, "demo", "node-1", Kind.CROSSING, "cam-1")

        def produce(first: int, n: int) -> None:
            for i in range(first, first + n):
                cam.add(CrossingObs(ts=T0 + i * 60_000, line="e-west", dir="in", track=i))
                cam.flush(T0 + i * 60_000)
            link.notify()

        produce(0, 20)
        assert link.wait_drained(10)
        network.cut()
        time.sleep(0.5)
        produce(20, 10)  # "ten minutes" of crossings while offline, one batch per minute
        time.sleep(1.0)
        assert box.depth() == 10, "batches must wait in the outbox while the broker is down"
        assert not link.connected
        network.restore()
        assert link.wait_connected(20)
        assert link.wait_drained(30)
        deadline = time.monotonic() + 30
        while len(rows(db_dsn)) < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
        got = rows(db_dsn)
        assert [r[0] for r in got] == list(range(30))  # every batch, once
        assert all(r[1] == 1 for r in got)
        assert [int(r[2].timestamp() * 1000) for r in got] == [T0 + i * 60_000 for i in range(30)]
    finally:
        link.stop(drain_timeout_s=0)
        ingest.stop()
        network.close()
        broker_server.stop()
