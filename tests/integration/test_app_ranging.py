"""Zone enter/exit events from a replayed app recording reach the database through the real broker (issue 8).

The recording is what a consented member app heard of the mall's beacons on a walk (tests/edge/ranging_walk.py),
in the JSON-lines replay format; the app side positions itself, turns fixes into zone events and publishes them as
``zone`` observations through an edge link → Mosquitto → ingest → ``zone_event``.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from edge.ble.node import run_app_ranging
from edge.ble.replay import ReplayReader, to_line
from edge.publisher import BrokerConfig
from ingest.consumer import Ingest, IngestConfig
from ingest.validation import Validator
from mallsense.site import load_site
from tests.edge.ranging_walk import heard, true_zones

pytestmark = pytest.mark.integration
SITE = load_site()
KEY = "5e" * 16


def test_zone_events_of_a_replayed_walk_arrive_in_the_database(db_dsn, mqtt_server, tmp_path):
    recording = tmp_path / "app-walk.jsonl"
    recording.write_text("".join(to_line(adv) + "\n" for adv in heard(SITE)))
    gateway = next(s.id for s in SITE.sensors if s.kind == "ble" and s.floor == "f1")
    broker = BrokerConfig(port=mqtt_server.port, min_backoff_s=0.2, max_backoff_s=1)
    ingest = Ingest(IngestConfig(dsn=db_dsn, broker=broker, client_id="ranging-ingest"),
                    Validator({SITE.site.id: SITE})).start()
    try:
        assert ingest.wait_connected()
        ranging = run_app_ranging(SITE, gateway, ReplayReader(recording), device_key=KEY, broker=broker,
                                  outbox_path=tmp_path / "outbox.db", stop=threading.Event())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with psycopg.connect(db_dsn) as conn:
                rows = conn.execute("SELECT zone, event, (extract(epoch FROM ts) * 1000)::bigint, dwell_s, dev"
                                    " FROM zone_event ORDER BY ts, event DESC").fetchall()
            if len(rows) >= 6:
                break
            time.sleep(0.3)
    finally:
        ingest.stop()
    assert len(ranging.fixes) > 100
    assert [(z, e) for z, e, *_ in rows] == [
        ("f1-mall-west", "enter"), ("f1-mall-west", "exit"), ("f1-atrium", "enter"), ("f1-atrium", "exit"),
        ("f1-mall-east", "enter"), ("f1-mall-east", "exit")]
    assert {dev for *_, dev in rows} == {KEY}
    truth = {zone: (first, last) for zone, first, last in true_zones(SITE)}
    for zone, event, ts, dwell, _ in rows:
        first, last = truth[zone]
        assert abs(ts - (first if event == "enter" else last)) <= 15_000, (zone, event)
        if event == "exit":
            assert abs(dwell - (last - first) / 1000) <= 20, (zone, dwell)
