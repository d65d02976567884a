"""Hostile peers at the broker of ``mallsense broker-auth`` (issue 21): a node's login must not take ingest's or
another node's client id (session), wipe ingest's queued batches with a clean session, or subscribe outside its
own topics; the legitimate set-up (several collectors per node, ingest workers in a shared group) still works.
Scripted, bounded peers on loopback only."""

from __future__ import annotations

import json
import threading
import time
from contextlib import ExitStack

import paho.mqtt.client as mqtt
import psycopg
import pytest

from edge.batching import SensorStream
from edge.outbox import Outbox
from edge.publisher import BrokerConfig, EdgeLink, sensor_outbox
from ingest.consumer import Ingest, IngestConfig
from ingest.validation import Validator
from mallsense.broker_auth import INGEST_USER, app_ranging_process, edge_client_id, edge_login, ingest_login
from mallsense.contract import Kind, OccupancyObs
from tests.integration.test_broker_auth import ROOT, SITE, Client, broker  # noqa: F401 (broker: the fixture)

pytestmark = pytest.mark.integration
SITE_ID = SITE.site.id
NOT_AUTHORIZED = 0x87  # MQTT 5 CONNACK / SUBACK reason code
REFUSED_3 = 0x80  # MQTT 3.1.1 SUBACK failure


def camera_of(node: str):
    return next(s for s in SITE.sensors if s.node == node and s.kind == "camera" and s.zones)


def ingest_broker(auth, port: int, worker: int = 1) -> BrokerConfig:
    return BrokerConfig(port=port, username=ingest_login(worker), password=auth.passwords[INGEST_USER],
                        min_backoff_s=0.2, max_backoff_s=1)


def node_broker(auth, port: int, node: str) -> BrokerConfig:
    return BrokerConfig(port=port, username=node, password=auth.passwords[node], min_backoff_s=0.2, max_backoff_s=1)


def batches_in_db(dsn: str, sensor: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM ingest_batch WHERE sensor = %s", (sensor,)).fetchone()[0]


def wait_for(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_a_node_login_cannot_take_ingests_or_another_nodes_client_id(broker):  # noqa: F811
    server, auth = broker
    ingest = Client(server.port, INGEST_USER, auth.passwords[INGEST_USER], client_id=INGEST_USER, clean=False)
    victim_id = edge_client_id(SITE_ID, "node-b1-w")
    victim = Client(server.port, "node-b1-w", auth.passwords["node-b1-w"], client_id=victim_id, clean=False)
    attacker, password = "node-f1-e", auth.passwords["node-f1-e"]
    camera = camera_of(attacker).id
    tries = [(attacker, password, INGEST_USER), (attacker, password, victim_id),
             (edge_login(attacker, camera), password, victim_id),  # one of its collector logins
             (ingest_login(2), auth.passwords[INGEST_USER], INGEST_USER)]  # even ingest's other worker
    try:
        for user, pw, client_id in tries:
            for protocol in (mqtt.MQTTv5, mqtt.MQTTv311):
                hostile = Client(server.port, user, pw, client_id=client_id, protocol=protocol)
                refused = hostile.connack[0]
                hostile.c.loop_stop()
                assert refused != 0, (user, client_id, protocol)
        time.sleep(0.5)
        assert ingest.c.is_connected() and victim.c.is_connected()
        assert ingest.disconnects == [] and victim.disconnects == []  # nobody lost its session
    finally:
        for c in (ingest, victim):
            c.close()


def test_a_clean_session_with_ingests_id_cannot_wipe_its_queued_batches(broker, db_dsn):  # noqa: F811
    server, auth = broker
    validator = Validator({SITE_ID: SITE})
    first = Ingest(IngestConfig(dsn=db_dsn, broker=ingest_broker(auth, server.port)), validator).start()
    assert first.wait_connected()
    first.stop()  # ingest is away; its persistent session queues what arrives
    node = "node-b1-w"
    camera = camera_of(node)
    outbox = Outbox(None)
    # "broker": the node forgets each batch at PUBACK, so the broker's queue for ingest is the only copy
    link = EdgeLink(SITE_ID, node, node_broker(auth, server.port, node), outbox, confirm="broker",
                    process=camera.id).start()
    try:
        assert link.wait_connected(10)
        stream = SensorStream(outbox, SITE_ID, node, Kind.OCCUPANCY, camera.id)
        now = int(time.time() * 1000)
        for i in range(50):
            stream.add(OccupancyObs(ts=now - 50_000 + i * 1000, zone=camera.zones[0], count=i))
            stream.flush(now)
        assert link.wait_drained(20)
    finally:
        link.stop()
    for protocol in (mqtt.MQTTv311, mqtt.MQTTv5):  # clean session (3.1.1) / clean start (5)
        hostile = Client(server.port, "node-f1-e", auth.passwords["node-f1-e"], client_id=INGEST_USER,
                         clean=True, protocol=protocol)
        hostile.c.loop_stop()
        assert hostile.connack[0] != 0
    back = Ingest(IngestConfig(dsn=db_dsn, broker=ingest_broker(auth, server.port)), validator).start()
    try:
        assert back.wait_connected()
        assert wait_for(lambda: batches_in_db(db_dsn, camera.id) >= 50, 20)
        assert batches_in_db(db_dsn, camera.id) == 50
    finally:
        back.stop()


def test_subscriptions_outside_a_logins_own_topics_are_refused(broker):  # noqa: F811
    server, auth = broker
    node, other = "node-b1-w", "node-f1-e"
    for protocol, refused in ((mqtt.MQTTv5, NOT_AUTHORIZED), (mqtt.MQTTv311, REFUSED_3)):
        c = Client(server.port, node, auth.passwords[node], client_id=edge_client_id(SITE_ID, node), protocol=protocol)
        try:
            for topic in ("#", f"{ROOT}/{other}/ack", f"{ROOT}/+/ack", f"{ROOT}/#", f"$share/g/{ROOT}/#", "$SYS/#",
                          "$CONTROL/dynamic-security/v1/response"):
                assert c.subscribe(topic) == refused, topic
            assert c.subscribe(f"{ROOT}/{node}/ack") == 1  # its own commit reports
        finally:
            c.close()
    ingest = Client(server.port, INGEST_USER, auth.passwords[INGEST_USER], client_id=INGEST_USER)
    try:
        assert ingest.subscribe("#") == NOT_AUTHORIZED and ingest.subscribe("$SYS/#") == NOT_AUTHORIZED
    finally:
        ingest.close()


def test_the_plugins_admin_topic_is_closed_to_every_login(broker):  # noqa: F811
    server, auth = broker
    node = "node-b1-w"
    c = Client(server.port, node, auth.passwords[node], client_id=edge_client_id(SITE_ID, node))
    try:  # a node tries to create itself an unrestricted login through the plugin's control API
        command = {"commands": [{"command": "createClient", "username": "rogue", "password": "rogue-pass"},
                                {"command": "addClientRole", "username": node, "rolename": "ingest"}]}
        info = c.c.publish("$CONTROL/dynamic-security/v1", json.dumps(command), qos=1)
        info.wait_for_publish(5)
        assert info.rc == 0  # the broker took the PUBLISH ...
    finally:
        c.close()
    time.sleep(0.5)
    rogue = Client(server.port, "rogue", "rogue-pass", client_id="rogue")
    rogue.c.loop_stop()
    assert rogue.connack[0] != 0  # ... and ignored it
    again = Client(server.port, node, auth.passwords[node], client_id=edge_client_id(SITE_ID, node))
    try:
        assert again.subscribe(f"{ROOT}/#") == NOT_AUTHORIZED  # no role was added either
    finally:
        again.close()


def test_the_legitimate_set_up_still_works(broker, db_dsn, tmp_path):  # noqa: F811
    """Two collectors and app ranging of one node, each its own process link, and two ingest workers in a shared
    group: all log in, keep their sessions, and every batch is stored and confirmed to the collector that sent it."""
    server, auth = broker
    node = "node-f1-w"
    sensors = [camera_of(node).id, next(s.id for s in SITE.sensors if s.node == node and s.kind == "wifi")]
    app = app_ranging_process(next(s.id for s in SITE.sensors if s.node == node and s.kind == "ble"))
    validator = Validator({SITE_ID: SITE})
    workers = [Ingest(IngestConfig(dsn=db_dsn, broker=ingest_broker(auth, server.port, w), shared_group="ingest",
                                   flush_interval_s=0.05), validator).start() for w in (1, 2)]
    stop = threading.Event()
    try:
        assert all(w.wait_connected() for w in workers)
        with ExitStack() as stack:
            outs = [stack.enter_context(sensor_outbox(SITE_ID, node, node_broker(auth, server.port, node),
                                                      tmp_path / f"{p}.db", stop, what=p, process=p,
                                                      drain_timeout_s=0)) for p in [*sensors, app]]
            assert all(o.link.wait_connected(10) for o in outs)
            camera = camera_of(node)
            stream = SensorStream(outs[0].outbox, SITE_ID, node, Kind.OCCUPANCY, camera.id)
            now = int(time.time() * 1000)
            for i in range(20):
                stream.add(OccupancyObs(ts=now - 20_000 + i * 1000, zone=camera.zones[0], count=i))
                stream.flush(now)
            assert outs[0].link.wait_drained(20)  # commit mode: every batch was reported committed by ingest
            assert wait_for(lambda: outs[0].link.confirmed >= 20, 10)
            assert all(o.link.connected for o in outs)  # no process took another's session
            stop.set()
        assert batches_in_db(db_dsn, camera.id) == 20
        assert all(w.stats.messages > 0 for w in workers)  # the shared group split the stream
    finally:
        for w in workers:
            w.stop()
