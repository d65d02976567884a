"""Edge link → Mosquitto → ingest → PostgreSQL, with valid and malformed messages (real broker, real database)."""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.batching import SensorStream
from edge.outbox import Outbox
from edge.publisher import BrokerConfig, EdgeLink
from ingest.consumer import Ingest, IngestConfig
from mallsense.contract import CrossingObs, Kind, WifiObs

pytestmark = pytest.mark.integration
T0 = 1_764_547_200_000  # 2025-12-01T00:00Z


def wait_for(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def count(dsn: str, sql: str, *args) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, args).fetchone()[0]


@pytest.fixture
def broker(mqtt_server) -> BrokerConfig:
    return BrokerConfig(port=mqtt_server.port, min_backoff_s=0.2, max_backoff_s=1)


def test_batches_arrive_once_and_bad_payloads_are_dead_lettered(db_dsn, broker):
    ingest = Ingest(IngestConfig(dsn=db_dsn, broker=broker, client_id="ingest-path-test")).start()
    assert ingest.wait_connected()
    box = Outbox(None)
    link = EdgeLink("demo", "node-1", broker, box).start()
    assert link.wait_connected()
    cam = SensorStream(box, "demo", "node-1", Kind.CROSSING, "cam-1")
    wifi = SensorStream(box, "demo", "node-1", Kind.WIFI, "wifi-1")
    for i in range(300):
        cam.add(CrossingObs(ts=T0 + i * 1000, line="e-west", dir="in" if i % 3 else "out", track=i))
        wifi.add(WifiObs(ts=T0 + i * 1000, dev=f"{i:032x}", rssi=-60, rand=True))
        if i % 10 == 9:
            cam.flush(T0 + i * 1000)
            wifi.flush(T0 + i * 1000)
    link.notify()
    assert link.wait_drained(20)

    raw = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="vandal")
    raw.connect("127.0.0.1", broker.port)
    raw.loop_start()
    bad = [
        ("mallsense/v1/demo/node-1/crossing/cam-1", b"{not json"),
        ("mallsense/v1/demo/node-1/crossing/cam-1", b'{"v":2,"kind":"crossing"}'),
        ("mallsense/v1/demo/node-2/crossing/cam-1", b""),
    ]
    for topic, payload in bad:
        raw.publish(topic, payload, qos=1).wait_for_publish(5)
    raw.loop_stop()
    raw.disconnect()

    wait_for(lambda: count(db_dsn, "SELECT count(*) FROM dead_letter") >= len(bad), what="dead letters")
    wait_for(lambda: count(db_dsn, "SELECT count(*) FROM crossing") >= 300, what="crossings")
    link.stop()
    ingest.stop()
    assert count(db_dsn, "SELECT count(*) FROM crossing") == 300
    assert count(db_dsn, "SELECT count(*) FROM crossing WHERE direction = 'out'") == 100
    assert count(db_dsn, "SELECT count(*) FROM wifi_sighting") == 300
    assert count(db_dsn, "SELECT count(*) FROM ingest_batch") == 60
    assert count(db_dsn, "SELECT count(DISTINCT reason) FROM dead_letter") >= 2
    assert count(db_dsn, "SELECT count(*) FROM node_state WHERE node = 'node-1'") == 1
