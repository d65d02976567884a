"""A hostile peer publishes poison messages to a real broker: ingest dead-letters each one and keeps storing the
other nodes' batches (issue 21: one state message used to stop ingest for every site, for good, and overflowing
counts were stored wrapped or as infinity)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.consumer import Ingest, IngestConfig
from ingest.validation import Validator
from mallsense.contract import CrossingBatch, CrossingObs, OccupancyBatch, OccupancyObs, encode
from tests.integration import own_broker
from tests.integration.test_ingest_path import count, wait_for

mqtt_server, broker = own_broker.mqtt_server, own_broker.broker  # this module's own broker

pytestmark = pytest.mark.integration
SITE = "poison-mall"
NOW = int(time.time() * 1000)
GOOD_TOPIC = f"mallsense/v1/{SITE}/node-good/occupancy/cam-good"
BAD_STATE = f"mallsense/v1/{SITE}/node-bad/state"
BAD_COUNT = f"mallsense/v1/{SITE}/node-bad/wifi_count/wifi-bad"
WITHIN_S = 10.0  # the other node's next batch is stored this soon after a poison message


def _state(health: str) -> bytes:
    """A node state whose health is given as raw JSON text (json.dumps cannot write every poison)."""
    return (f'{{"v":1,"site":"{SITE}","node":"node-bad","status":"online","ts":{NOW},'
            f'"health":{health}}}').encode()


def _wifi_count(seq: int, **over) -> bytes:
    obs = {"ts": NOW, "interval_s": 300, "probes": 10, "keys": 5, "randomized_keys": 3, "devices": 4.0,
           "fixtures": 1, "people": 3.5}
    obs.update(over)
    body = {"v": 1, "site": SITE, "node": "node-bad", "sensor": "wifi-bad", "seq": seq, "sent": NOW,
            "kind": "wifi_count", "obs": [obs]}
    return json.dumps(body).encode()  # json.dumps writes inf as Infinity, as a hostile peer may


_HEALTH = '"published":1,"outbox_depth":0'
# (topic, payload, retained, reason ingest must record)
POISON_STATES = [
    (BAD_STATE, _state(f'{{"uptime_s":1.0,{_HEALTH},"sensors":{{"cam\\u0000x":{NOW}}}}}'), True, "nul_char"),
    (BAD_STATE, _state(f'{{"uptime_s":Infinity,{_HEALTH}}}'), False, "non_finite"),
    (BAD_STATE, _state(f'{{"uptime_s":1e309,{_HEALTH}}}'), True, "non_finite"),
    (BAD_STATE, _state(f'{{"uptime_s":NaN,{_HEALTH}}}'), False, "non_finite"),
    (BAD_STATE, _state(f'{{"uptime_s":1.0,{_HEALTH},"x\\u0000":1}}'), False, "nul_char"),
]
POISON_COUNTS = [
    (BAD_COUNT, _wifi_count(1, probes=2**31), False, "out_of_range"),
    (BAD_COUNT, _wifi_count(2, fixtures=2**40), False, "out_of_range"),
    (BAD_COUNT, _wifi_count(3, devices=1e39), False, "out_of_range"),
    (BAD_COUNT, _wifi_count(4, people=float("inf")), False, "non_finite"),
]


def good_batch(seq: int) -> bytes:
    return encode(OccupancyBatch(site=SITE, node="node-good", sensor="cam-good", seq=seq, sent=NOW,
                                 obs=[OccupancyObs(ts=NOW, zone="atrium", count=seq)]))


class Peer:
    """A scripted MQTT client on loopback: publishes what it is told, QoS 1, and waits for each PUBACK."""

    def __init__(self, port: int, client_id: str) -> None:
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def peer(mqtt_server) -> Iterator[Peer]:
    peer = Peer(mqtt_server.port, "hostile-peer")
    yield peer
    peer.publish(BAD_STATE, b"", retain=True)  # clear the retained poison: the broker is shared by the whole suite
    peer.close()


def _stored(dsn: str, seq: int) -> bool:
    return count(dsn, "SELECT count(*) FROM ingest_batch WHERE sensor = 'cam-good' AND seq = %s", seq) == 1


def _dead(dsn: str, topic: str) -> list[tuple[str, bytes]]:
    with psycopg.connect(dsn) as conn:
        return [(r, bytes(p)) for r, p in conn.execute(
            "SELECT reason, payload FROM dead_letter WHERE topic = %s ORDER BY id", (topic,))]


WARM_UP_SEQ = 1000


def _subscribed(dsn: str, peer: Peer) -> None:
    """Ingest says it is connected before the broker has its subscription: a good batch, sent again until it is
    stored (a resend is a harmless duplicate), shows the subscription is in place."""
    deadline = time.monotonic() + WITHIN_S
    while not _stored(dsn, WARM_UP_SEQ):
        assert time.monotonic() < deadline, "the warm-up batch was never stored"
        peer.publish(GOOD_TOPIC, good_batch(WARM_UP_SEQ))
        time.sleep(0.5)


def _interleave(dsn: str, peer: Peer, poison: list, first_seq: int = 0) -> None:
    """Each poison message, then a good batch of another node that must be stored within WITHIN_S."""
    _subscribed(dsn, peer)
    for i, (topic, payload, retain, _reason) in enumerate(poison):
        peer.publish(topic, payload, retain=retain)
        peer.publish(GOOD_TOPIC, good_batch(first_seq + i))
        wait_for(lambda s=first_seq + i: _stored(dsn, s), timeout=WITHIN_S,
                 what=f"node-good's batch after poison #{i} ({payload[:60]!r})")


def _poison_run(db_dsn, broker, peer, cases, topic: str, client_id: str) -> None:
    """One ingest through the poison cases interleaved with good batches; each ends as a dead letter, in order,
    with its reason."""
    ingest = Ingest(IngestConfig(dsn=db_dsn, broker=broker, client_id=client_id), Validator()).start()
    try:
        assert ingest.wait_connected()
        _interleave(db_dsn, peer, cases)
        wait_for(lambda: len(_dead(db_dsn, topic)) >= len(cases), timeout=WITHIN_S, what="dead letters")
    finally:
        ingest.stop()
    assert _dead(db_dsn, topic) == [(reason, payload) for _, payload, _, reason in cases]


def test_poison_states_are_dead_lettered_and_ingest_goes_on(db_dsn, broker, peer):
    _poison_run(db_dsn, broker, peer, POISON_STATES, BAD_STATE, "poison-ingest")
    assert count(db_dsn, "SELECT count(*) FROM node_state WHERE site = %s", SITE) == 0

    # a fresh ingest (new session) gets the retained poison from the broker first, and still goes on
    ingest = Ingest(IngestConfig(dsn=db_dsn, broker=broker, client_id="poison-ingest-2"), Validator()).start()
    try:
        assert ingest.wait_connected()
        peer.publish(GOOD_TOPIC, good_batch(100))
        wait_for(lambda: _stored(db_dsn, 100), timeout=WITHIN_S, what="node-good's batch after a restart")
        wait_for(lambda: len(_dead(db_dsn, BAD_STATE)) > len(POISON_STATES), timeout=WITHIN_S,
                 what="the retained poison dead-lettered again")
    finally:
        ingest.stop()
    retained = POISON_STATES[2]  # the last retained poison is what the broker hands a new subscriber
    assert _dead(db_dsn, BAD_STATE)[-1] == (retained[3], retained[1])


def test_overflowing_counts_are_refused_not_stored(db_dsn, broker, peer):
    _poison_run(db_dsn, broker, peer, POISON_COUNTS, BAD_COUNT, "overflow-ingest")
    assert count(db_dsn, "SELECT count(*) FROM wifi_count") == 0
    assert count(db_dsn, "SELECT count(*) FROM ingest_batch WHERE sensor = 'wifi-bad'") == 0
    assert count(db_dsn, "SELECT count(*) FROM ingest_batch WHERE sensor = 'cam-good'") == len(POISON_COUNTS) + 1


class LeakyValidator(Validator):
    """Lets through what the database refuses: a crossing whose direction is 'sideways' (the contract's Literal is
    bypassed by building the model without validation), as a validation gap would."""

    def decode(self, topic: str, payload: bytes):
        if b'"sideways"' not in payload:
            return super().decode(topic, payload)
        batch = super().decode(topic, payload.replace(b'"sideways"', b'"in"'))
        return batch.model_copy(update={"obs": [o.model_copy(update={"dir": "sideways"}) for o in batch.obs]})


def test_a_write_time_failure_dead_letters_only_that_message(db_dsn, broker, peer):
    leaky_topic = f"mallsense/v1/{SITE}/node-bad/crossing/cam-bad"
    leaky = encode(CrossingBatch(site=SITE, node="node-bad", sensor="cam-bad", seq=7, sent=NOW,
                                 obs=[CrossingObs(ts=NOW, line="e-1", dir="in", track=1)])).replace(b'"in"',
                                                                                                   b'"sideways"')
    not_json = (f"mallsense/v1/{SITE}/node-bad/crossing/cam-bad", b"{not json")
    # a long flush interval: all five messages land in one flush, whose transaction the leaky batch makes fail
    ingest = Ingest(IngestConfig(dsn=db_dsn, broker=broker, client_id="leaky-ingest", flush_interval_s=1.0),
                    LeakyValidator()).start()
    try:
        assert ingest.wait_connected()
        _subscribed(db_dsn, peer)
        peer.publish(GOOD_TOPIC, good_batch(0))
        peer.publish(leaky_topic, leaky)
        peer.publish(*not_json)
        peer.publish(GOOD_TOPIC, good_batch(1))
        peer.publish(BAD_STATE, _state(f'{{"uptime_s":5.0,{_HEALTH}}}'))  # a good state of the same node
        wait_for(lambda: _stored(db_dsn, 0) and _stored(db_dsn, 1)
                 and count(db_dsn, "SELECT count(*) FROM node_state WHERE node = 'node-bad'") == 1
                 and count(db_dsn, "SELECT count(*) FROM dead_letter") >= 2, timeout=WITHIN_S, what="all five settled")
    finally:
        ingest.stop()
    assert ingest.stats.isolated_flushes == 1  # one flush of five that the database refused, written one by one
    with psycopg.connect(db_dsn) as conn:
        dead = conn.execute("SELECT topic, reason, detail, payload FROM dead_letter ORDER BY id").fetchall()
        assert conn.execute("SELECT health->>'uptime_s' FROM node_state WHERE node = 'node-bad'").fetchone() == (
            "5.0",)
    by_reason = {reason: (topic, detail, bytes(payload)) for topic, reason, detail, payload in dead}
    assert sorted(by_reason) == ["invalid_json", "write_failed"] and len(dead) == 2  # each exactly once
    topic, detail, payload = by_reason["write_failed"]
    assert (topic, payload) == (leaky_topic, leaky)
    assert "check constraint" in detail and "direction" in detail
    assert count(db_dsn, "SELECT count(*) FROM crossing") == 0
    assert count(db_dsn, "SELECT count(*) FROM ingest_batch WHERE sensor = 'cam-bad'") == 0
    assert ingest.stats.dead_by_reason == {"invalid_json": 1, "write_failed": 1}
