"""A sensor whose sequence restarts (issue 21, item 2): nothing may vanish as a "duplicate".

A scripted peer (loopback, a bounded few dozen messages) reuses seq numbers against a real Mosquitto and a real
ingest: a true redelivery stays a silent duplicate, other content under a used key without an epoch becomes a
``seq_conflict`` dead letter with both digests, counted per sensor and flagged in the cockpit's sensor strip, and a
new epoch is a new sequence that is stored whole. Then two simulate-style runs through the edge publisher (fresh
in-memory outboxes, seq from 0 each time) and an edge node whose outbox file is replaced both store everything.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import threading

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from dashboards import context
from dashboards.app import create_app
from edge.batching import SensorStream
from edge.outbox import Outbox
from edge.publisher import BrokerConfig, EdgeLink
from ingest.consumer import Ingest, IngestConfig
from mallsense.contract import CrossingBatch, CrossingObs, Kind, data_topic, decode_ack, encode
from mallsense.site import load_site
from mallsense.telemetry import ingest_metrics
from models import live
from tests.integration import own_broker
from tests.integration.test_ingest_path import wait_for

mqtt_server, broker = own_broker.mqtt_server, own_broker.broker  # this module's own broker

pytestmark = pytest.mark.integration
T0 = 1_764_547_200_000  # 2025-12-01T00:00Z
SITE = load_site()  # the demo mall: its node and sensor ids, so the cockpit strip knows the node
NODE, SENSOR = "node-f1-w", "cam-f1-west"
TOPIC = str(data_topic(SITE.site.id, NODE, Kind.CROSSING, SENSOR))


def query(dsn: str, sql: str, *args) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, args).fetchall()


def payload(seq: int, run: int, epoch: str | None = None) -> bytes:
    """Batch ``seq`` of one run of the sensor: three crossings whose tracks say which run made them."""
    t = T0 + run * 3_600_000 + seq * 1000
    obs = [CrossingObs(ts=t + i, line="e-west", dir="in", track=run * 1000 + seq * 3 + i) for i in range(3)]
    return encode(CrossingBatch(site=SITE.site.id, node=NODE, sensor=SENSOR, seq=seq, epoch=epoch, sent=t + 999,
                                obs=obs))


@pytest.fixture
def ingest(db_dsn, broker):
    worker = Ingest(IngestConfig(dsn=db_dsn, broker=broker, client_id="hostile-seq-ingest")).start()
    assert worker.wait_connected()
    yield worker
    worker.stop()


class Peer:
    """A scripted edge node on loopback that publishes exactly what it is told and records the commit reports."""

    def __init__(self, port: int) -> None:
        self.acks: list = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="hostile-seq-peer")
        self.client.on_message = self._on_ack
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"mallsense/v1/{SITE.site.id}/{NODE}/ack", qos=1)
        self.client.loop_start()

    def _on_ack(self, client, userdata, msg) -> None:
        with self._lock:
            self.acks.append(decode_ack(msg.payload))

    def publish(self, payloads: list[bytes]) -> None:
        for p in payloads:
            self.client.publish(TOPIC, p, qos=1).wait_for_publish(5)

    def acked(self, epoch: str | None) -> set[int]:
        with self._lock:
            return {s for a in self.acks if a.epoch == epoch for s in a.batches.get(SENSOR, [])}

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_restarted_sequence_is_a_conflict_or_a_new_epoch_never_a_silent_drop(db_dsn, mqtt_server, ingest):
    peer = Peer(mqtt_server.port)
    sent = 0

    def publish(payloads: list[bytes]) -> None:
        nonlocal sent
        peer.publish(payloads)
        sent += len(payloads)
        wait_for(lambda: ingest.stats.messages >= sent, what=f"{sent} messages through ingest")

    try:
        first = [payload(s, run=0) for s in range(10)]
        publish(first)
        publish(first)  # a true redelivery of every batch: silent duplicates
        assert (ingest.stats.new_batches, ingest.stats.duplicate_batches) == (10, 10)
        assert query(db_dsn, "SELECT count(*) FROM dead_letter") == [(0,)]

        restarted = [payload(s, run=1) for s in range(5)]  # the outbox was lost: seq from 0, new content, no epoch
        publish(restarted)
        assert ingest.stats.duplicate_batches == 10 and ingest.stats.new_batches == 10
        letters = query(db_dsn, "SELECT topic, detail, payload FROM dead_letter WHERE reason = 'seq_conflict'"
                                " ORDER BY id")
        assert len(letters) == 5
        stored = dict(query(db_dsn, "SELECT seq, digest FROM ingest_batch WHERE sensor = %s AND epoch = ''", SENSOR))
        for (topic, detail, kept), sent_payload in zip(letters, restarted, strict=True):
            seq = json.loads(sent_payload)["seq"]
            assert topic == TOPIC and f"seq {seq} (no epoch)" in detail
            assert f"stored digest {stored[seq].hex()}" in detail  # the first version's hash, as stored
            assert f"received digest {hashlib.blake2b(sent_payload, digest_size=16).hexdigest()}" in detail
            assert stored[seq] != hashlib.blake2b(sent_payload, digest_size=16).digest()
            assert json.loads(bytes(kept))["obs"] == json.loads(sent_payload)["obs"]  # the refused batch is kept
        assert ingest.stats.seq_conflicts == {(SITE.site.id, SENSOR): 5}
        assert ingest.stats.dead_by_reason == {"seq_conflict": 5}
        metrics = {m.name: m for m in ingest_metrics(ingest)}
        samples = {tuple(s.labels.values()): s.value for s in metrics["mallsense_ingest_seq_conflicts"].samples}
        assert samples == {(SITE.site.id, SENSOR): 5}
        outcome = {s.labels["outcome"]: s.value for s in metrics["mallsense_ingest_batches"].samples}
        assert outcome == {"new": 10, "duplicate": 10, "seq_conflict": 5}
        wait_for(lambda: peer.acked(None) == set(range(10)), what="commit reports without epoch")

        epoch = [payload(s, run=2, epoch="0f1e2d3c4b5a6978") for s in range(10)]  # a new outbox: a new epoch
        publish(epoch)
        publish(epoch[:3])  # and a redelivery within the epoch: still idempotent
        assert ingest.stats.new_batches == 20 and ingest.stats.duplicate_batches == 13
        assert query(db_dsn, "SELECT count(*) FROM dead_letter") == [(5,)]
        tracks = {t for (t,) in query(db_dsn, "SELECT track FROM crossing WHERE sensor = %s", SENSOR)}
        assert tracks == {run * 1000 + i for run in (0, 2) for i in range(30)}  # both sequences whole, once each
        wait_for(lambda: peer.acked("0f1e2d3c4b5a6978") == set(range(10)), what="commit reports naming the epoch")

        publish([payload(13, run=2, epoch="0f1e2d3c4b5a6978")])  # gaps stay meaningful: counted within the epoch
        assert query(db_dsn, "SELECT epoch, first_missing, last_missing FROM sequence_gap WHERE sensor = %s",
                     SENSOR) == [("0f1e2d3c4b5a6978", 10, 12)]

        with psycopg.connect(db_dsn) as conn:
            (node,) = [n for n in live.sensor_health(conn, SITE.site.id) if n.node == NODE]
        assert node.seq_conflicts == {SENSOR: 5}
        create_app(db_dsn, SITE, login=False)
        try:
            page = importlib.import_module("dashboards.pages.live")
            strip = page.show_health(0)
            chips = next(part.children for part in strip if part.className == "chips")
            (chip,) = [c for c in chips if c.children[0].children == NODE]
            assert "conflict" in chip.className.split() and f"{SENSOR} 5 seq conflicts" in chip.children[1]
        finally:
            context.close()
    finally:
        peer.close()


def run_like_simulate(broker: BrokerConfig, box: Outbox, run: int) -> None:
    """What ``mallsense simulate`` does per node: a SensorStream into the outbox, published by an EdgeLink."""
    link = EdgeLink(SITE.site.id, NODE, broker, box).start()
    try:
        assert link.wait_connected()
        cam = SensorStream(box, SITE.site.id, NODE, Kind.CROSSING, SENSOR)
        for i in range(40):
            cam.add(CrossingObs(ts=T0 + run * 3_600_000 + i * 1000, line="e-west", dir="in", track=run * 1000 + i))
            if i % 4 == 3:
                cam.flush(T0 + run * 3_600_000 + i * 1000)
        link.notify()
        assert link.wait_drained(20)  # drained means: ingest reported every batch committed
    finally:
        link.stop(drain_timeout_s=0)


def test_two_simulate_runs_and_a_replaced_outbox_file_store_everything(db_dsn, broker, ingest, tmp_path):
    run_like_simulate(broker, Outbox(None), run=0)
    run_like_simulate(broker, Outbox(None), run=1)  # a second run: seq from 0 again, in a fresh in-memory outbox
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    run_like_simulate(broker, box, run=2)
    box.close()
    path.unlink()  # the node's outbox file is lost; the node starts over with a new one
    run_like_simulate(broker, Outbox(path), run=3)
    tracks = sorted(t for (t,) in query(db_dsn, "SELECT track FROM crossing WHERE sensor = %s", SENSOR))
    assert tracks == [run * 1000 + i for run in range(4) for i in range(40)]
    assert query(db_dsn, "SELECT count(DISTINCT epoch), count(*), max(seq) FROM ingest_batch") == [(4, 40, 9)]
    assert query(db_dsn, "SELECT count(*) FROM dead_letter") == [(0,)]
    assert query(db_dsn, "SELECT count(*) FROM sequence_gap") == [(0,)]
