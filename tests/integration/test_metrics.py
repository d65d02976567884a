"""Prometheus endpoints of ingest and edge report what happened (scraped over HTTP)."""

from __future__ import annotations

import time
import urllib.request

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.batching import SensorStream
from edge.outbox import Outbox
from edge.publisher import BrokerConfig, EdgeLink
from ingest.consumer import Ingest, IngestConfig
from mallsense.contract import CameraHealth, Kind, OccupancyObs
from mallsense.services import free_port
from mallsense.telemetry import edge_metrics, ingest_metrics, serve

pytestmark = pytest.mark.integration
T0 = 1_764_547_200_000


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_ingest_and_edge_metrics(db_dsn, mqtt_server):
    broker = BrokerConfig(port=mqtt_server.port, min_backoff_s=0.2, max_backoff_s=1)
    ingest = Ingest(IngestConfig(dsn=db_dsn, broker=broker, client_id="metrics-ingest")).start()
    box = Outbox(None)
    link = EdgeLink("demo", "node-m", broker, box).start()
    link.cameras["cam-m"] = lambda: CameraHealth(frames_read=300, frames_dropped=120, detect_every=1,
                                                 detect_steps=180, reconnects=2)
    ingest_port, edge_port = free_port(), free_port()
    servers = [serve(lambda: ingest_metrics(ingest), ingest_port), serve(lambda: edge_metrics([link]), edge_port)]
    try:
        assert ingest.wait_connected() and link.wait_connected()
        zone = SensorStream(box, "demo", "node-m", Kind.OCCUPANCY, "cam-m")
        for i in range(5):
            zone.add(OccupancyObs(ts=T0 + i, zone="f1-atrium", count=i))
            zone.flush(T0 + i)
        link.notify()
        raw = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        raw.connect("127.0.0.1", mqtt_server.port)
        raw.loop_start()
        raw.publish("mallsense/v1/demo/node-m/occupancy/cam-m", b"garbage", qos=1).wait_for_publish(5)
        raw.loop_stop()
        raw.disconnect()
        assert link.wait_drained(20)
        deadline = time.monotonic() + 10
        while ingest.stats.dead_letters < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        got = scrape(ingest_port)
        assert got['mallsense_ingest_batches_total{outcome="new"}'] == 5
        assert got['mallsense_ingest_rows_total{table="occupancy"}'] == 5
        assert got['mallsense_ingest_dead_letters_total{reason="invalid_json"}'] == 1
        assert got["mallsense_ingest_broker_connected"] == 1
        edge = scrape(edge_port)
        assert edge['mallsense_edge_outbox_depth{node="node-m"}'] == 0
        assert edge['mallsense_edge_confirmed_total{node="node-m"}'] == 5
        cam = 'node="node-m",sensor="cam-m"'
        assert edge[f"mallsense_edge_camera_keeping_up{{{cam}}}"] == 0.6
        assert edge[f"mallsense_edge_camera_frames_dropped_total{{{cam}}}"] == 120
        assert edge[f"mallsense_edge_camera_reconnects_total{{{cam}}}"] == 2
    finally:
        for server in servers:
            server.shutdown()
        link.stop(drain_timeout_s=0)
        ingest.stop()
