"""No raw MAC address anywhere, and no device-level row kept longer than the privacy mode allows (issue 6).

Every WiFi capture of the shared data and a simulated week go through the real path (collector or simulator → edge
outbox and link → Mosquitto → ingest → PostgreSQL). A spy subscribed to everything keeps every MQTT message; the
test keeps every log record of the process; then the database (every table, every column), the logs, the broker's
and the database server's log files and the messages are searched for the captures' addresses (every address tshark
decodes in them) and the simulated phones' addresses, in any notation.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import simulator.radio
from edge.publisher import BrokerConfig
from edge.wifi.capture import read_capture
from edge.wifi.config import WifiSensorConfig
from edge.wifi.node import run_wifi_sensor
from ingest.consumer import Ingest, IngestConfig
from ingest.policies import StoragePolicy, enforce_retention
from ingest.validation import Validator
from mallsense.site import load_site
from simulator.run import simulate
from tests.conftest import shared_data
from tests.edge.tshark import tshark_frames
from tests.privacy_scan import macs_in

pytestmark = pytest.mark.integration
CAPTURES = sorted((shared_data() / "wifi").glob("*/*.pcap*"))


class Spy:
    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="privacy-spy")
        self.client.on_connect = lambda c, *a: c.subscribe("#", qos=1)
        self.client.on_message = lambda c, u, msg: self.messages.append((msg.topic, msg.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait_written(dsn: str, settle_s: float = 3.0, timeout_s: float = 180.0) -> None:
    last, since, deadline = -1, time.monotonic(), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with psycopg.connect(dsn) as conn:
            n = conn.execute("SELECT (SELECT count(*) FROM ingest_batch) + (SELECT count(*) FROM dead_letter)"
                             ).fetchone()[0]
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > settle_s:
            return
        time.sleep(0.3)


def database_text(dsn: str) -> bytes:
    out = []
    with psycopg.connect(dsn) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]
        for table in tables:
            with conn.cursor().copy(f'COPY (SELECT * FROM "{table}") TO STDOUT') as copy:
                out.extend(bytes(chunk) for chunk in copy)
    return b"".join(out)


def test_no_raw_mac_reaches_mqtt_the_database_or_the_logs(db_dsn, mqtt_server, pg_server, tmp_path, caplog,
                                                          monkeypatch):
    caplog.set_level(logging.DEBUG)
    site = load_site()
    simulated_macs: set[str] = set()
    real_mac_address = simulator.radio.mac_address

    def recording(phone, epoch):
        raw = real_mac_address(phone, epoch)
        simulated_macs.add(raw.hex())
        return raw

    monkeypatch.setattr(simulator.radio, "mac_address", recording)
    broker = BrokerConfig(port=mqtt_server.port, min_backoff_s=0.2, max_backoff_s=1)
    spy = Spy(mqtt_server.port)
    ingest = Ingest(IngestConfig(dsn=db_dsn, broker=broker, client_id="privacy-ingest"),
                    Validator({site.site.id: site})).start()
    try:
        assert ingest.wait_connected()
        stop = threading.Event()
        outbox = tmp_path / "outbox"  # on disk, as on a node: sequence numbers continue from run to run
        started = time.monotonic()
        for path in CAPTURES:
            run_wifi_sensor(site, "node-f1-w", WifiSensorConfig(sensor="wifi-f1-1"), read_capture(path),
                            secret=b"privacy-test-secret-0123456789ab", broker=broker,
                            outbox_path=outbox / "node-f1-w.db", stop=stop)
        replayed = time.monotonic()
        today = datetime.now(site.site.tz).date()
        simulate(site, today - timedelta(days=6), 7, broker=broker, outdir=tmp_path, scale=0.01, seed=3,
                 progress=False, outbox_dir=outbox)
        print(f"\ncaptures replayed in {replayed - started:.1f} s, "
              f"week simulated in {time.monotonic() - replayed:.1f} s")
        wait_written(db_dsn)
    finally:
        ingest.stop()
        spy.stop()

    capture_macs = {a for path in CAPTURES for a in (f.addresses for f in tshark_frames(path)) for a in a}
    assert len(capture_macs) > 2000 and len(simulated_macs) > 1000
    wanted = capture_macs | simulated_macs
    with psycopg.connect(db_dsn) as conn:
        probes = conn.execute("SELECT count(*) FROM wifi_sighting WHERE ts < now() - interval '30 days'"
                              ).fetchone()[0]  # the captures are from 2023 to 2025
        dead = conn.execute("SELECT reason, left(detail, 200), count(*) FROM dead_letter GROUP BY 1, 2").fetchall()
        simulated = conn.execute("SELECT count(*) FROM wifi_sighting WHERE ts > now() - interval '8 days'"
                                 ).fetchone()[0]
    assert dead == []
    assert probes == sum(sum(f.is_probe_request for f in tshark_frames(p)) for p in CAPTURES)
    assert simulated > 1000

    places = {
        "database": database_text(db_dsn),
        "mqtt": b"\n".join(topic.encode() + b" " + payload for topic, payload in spy.messages),
        "logs": "\n".join(r.getMessage() for r in caplog.records).encode(),
        "broker log": (mqtt_server.datadir / "mosquitto.log").read_bytes(),
        "database log": (pg_server.datadir / "server.log").read_bytes(),
    }
    assert len(spy.messages) > 100 and len(caplog.records) > 0
    for place, blob in places.items():
        assert macs_in(blob, wanted) == set(), f"raw MAC addresses in the {place}"

    # retention: strict mode keeps device-level rows for the key period + 1 day, nothing older
    policy = StoragePolicy.for_privacy(site.site.rotation_days)
    with psycopg.connect(db_dsn) as conn:
        enforce_retention(conn, policy)
        conn.commit()
        for table in ("wifi_sighting", "ble_sighting"):
            oldest, kept = conn.execute(f"SELECT min(ts), count(*) FROM {table}").fetchone()
            assert kept > 0, f"{table}: recent rows stay"
            assert oldest >= datetime.now(oldest.tzinfo) - timedelta(days=policy.retention_days[table], minutes=5)
        assert conn.execute("SELECT count(*) FROM wifi_count WHERE ts < now() - interval '30 days'").fetchone()[0], \
            "aggregates without device keys are kept"
