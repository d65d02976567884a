"""Several ingest workers behind one MQTT shared subscription split the stream and still store it exactly once;
thousands of hypothesis-made malformed payloads through the live pipe all become dead letters."""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from edge.batching import SensorStream
from edge.outbox import Outbox
from edge.publisher import BrokerConfig, EdgeLink
from ingest.consumer import Ingest, IngestConfig
from ingest.validation import Rejected, Validator
from mallsense.contract import CrossingObs, Kind
from tests.ingest.test_fuzz import TOPICS, malformed

pytestmark = pytest.mark.integration
T0 = 1_764_547_200_000


def count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchone()[0]


def test_two_workers_share_the_stream_exactly_once(db_dsn, mqtt_server):
    broker = BrokerConfig(port=mqtt_server.port, min_backoff_s=0.2, max_backoff_s=1)
    workers = [Ingest(IngestConfig(dsn=db_dsn, broker=broker, client_id=f"share-{i}", shared_group="ingest",
                                   flush_interval_s=0.05)).start() for i in range(2)]
    box = Outbox(None)
    link = EdgeLink("demo", "node-s", broker, box).start()
    try:
        assert all(w.wait_connected() for w in workers) and link.wait_connected()
        time.sleep(0.5)  # subscriptions in place
        streams = [SensorStream(box, "demo", "node-s", Kind.CROSSING, f"cam-{k}") for k in range(4)]
        for i in range(2000):
            stream = streams[i % 4]
            stream.add(CrossingObs(ts=T0 + i, line="e1", dir="in", track=i))
            if i % 8 == 7:
                stream.flush(T0 + i)
        for stream in streams:
            stream.flush(T0 + 2000)
        link.notify()
        assert link.wait_drained(60)
    finally:
        link.stop(drain_timeout_s=0)
        for w in workers:
            w.stop()
    assert count(db_dsn, "SELECT count(*) FROM crossing") == 2000
    assert count(db_dsn, "SELECT count(DISTINCT track) FROM crossing") == 2000
    assert all(w.stats.new_batches > 0 for w in workers), [w.stats.new_batches for w in workers]


@pytest.fixture(scope="module")
def live_ingest(pg_server, mqtt_server):
    from tests.conftest import _new_database

    dsn = _new_database(pg_server)
    from ingest.storage import migrate

    migrate(dsn)
    broker = BrokerConfig(port=mqtt_server.port, min_backoff_s=0.2, max_backoff_s=1)
    ingest = Ingest(IngestConfig(dsn=dsn, broker=broker, client_id="fuzz-ingest", flush_interval_s=0.05)).start()
    assert ingest.wait_connected()
    publisher = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="fuzz-publisher")
    publisher.connect("127.0.0.1", mqtt_server.port)
    publisher.loop_start()
    sent = {"n": 0}
    yield dsn, ingest, publisher, sent
    publisher.loop_stop()
    publisher.disconnect()
    ingest.stop()


@settings(max_examples=70, deadline=None, suppress_health_check=list(HealthCheck))
@given(items=st.lists(st.tuples(st.sampled_from(TOPICS), malformed), min_size=30, max_size=80))
def test_malformed_payloads_through_the_live_pipe_all_become_dead_letters(live_ingest, items):
    dsn, ingest, publisher, sent = live_ingest
    refused = []
    for topic, payload in items:
        try:
            Validator().decode(topic, payload)
        except Rejected:
            refused.append((topic, payload))
    for topic, payload in refused:
        publisher.publish(topic, payload, qos=1).wait_for_publish(10)
    sent["n"] += len(refused)
    deadline = time.monotonic() + 30
    while count(dsn, "SELECT count(*) FROM dead_letter") < sent["n"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert count(dsn, "SELECT count(*) FROM dead_letter") == sent["n"]
    assert ingest.connected and ingest._writer.is_alive()


def test_fuzzing_sent_thousands(live_ingest):
    dsn, _ingest, _publisher, sent = live_ingest
    assert sent["n"] >= 1000, sent
    with psycopg.connect(dsn) as conn:
        reasons = dict(conn.execute("SELECT reason, count(*) FROM dead_letter GROUP BY 1").fetchall())
    assert "internal" not in reasons
    print(f"fuzz: {sent['n']} malformed payloads, dead-letter reasons {json.dumps(reasons)}")
