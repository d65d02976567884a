"""The broker of ``mallsense broker-auth``: no anonymous clients, each edge node confined to its topics (hostile
peers: test_hostile_broker.py)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.outbox import Outbox
from edge.publisher import BrokerConfig, BrokerRefused, EdgeLink
from mallsense.broker_auth import INGEST_USER, BrokerAuth, edge_client_id, hash_password, write_broker_auth
from mallsense.services import MosquittoServer
from mallsense.site import load_site

pytestmark = pytest.mark.integration
SITE = load_site()
ROOT = f"mallsense/v1/{SITE.site.id}"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MosquittoServer, BrokerAuth]]:
    """The broker with the logins of the demo mall and of two ingest workers."""
    folder = tmp_path_factory.mktemp("broker")
    auth = write_broker_auth(folder / "auth", [SITE], ingest_workers=2)
    server = MosquittoServer(folder / "mqtt", auth=auth).start()
    yield server, auth
    server.stop()


class Client:
    """A paho client that records CONNACK, SUBACK reason codes, disconnections and messages."""

    def __init__(self, port: int, user: str | None = None, password: str | None = None, *, client_id: str = "",
                 clean: bool = True, protocol: int = mqtt.MQTTv5) -> None:
        self.messages: list[str] = []
        self.connack: list[int] = []
        self.suback: list[int] = []
        self.disconnects: list[str] = []
        self.ready = threading.Event()
        self.subscribed = threading.Event()
        session = {"clean_start": clean} if protocol == mqtt.MQTTv5 else {}
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol,
                             **({} if protocol == mqtt.MQTTv5 else {"clean_session": clean}))
        if user is not None:
            self.c.username_pw_set(user, password)
        self.c.on_connect = lambda c, u, f, rc, p: (self.connack.append(rc.value), self.ready.set())
        self.c.on_disconnect = lambda c, u, f, rc, p: self.disconnects.append(str(rc))
        self.c.on_subscribe = lambda c, u, mid, rcs, p: (self.suback.extend(r.value for r in rcs),
                                                         self.subscribed.set())
        self.c.on_message = lambda c, u, m: self.messages.append(m.topic)
        self.c.connect("127.0.0.1", port, **session)
        self.c.loop_start()
        assert self.ready.wait(10)

    def subscribe(self, topic: str) -> int:
        """SUBSCRIBE one filter at QoS 1 and return the broker's reason code (1: granted, >= 0x80: refused)."""
        self.subscribed.clear()
        self.suback.clear()
        self.c.subscribe(topic, qos=1)
        assert self.subscribed.wait(5)
        return self.suback[0]

    def publish(self, topic: str) -> None:
        self.c.publish(topic, b"{}", qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_anonymous_and_wrong_passwords_are_refused(broker):
    server, auth = broker
    passwords = auth.passwords
    anonymous = Client(server.port)
    assert anonymous.connack[0] != 0  # Not authorized
    wrong = Client(server.port, "node-b1-w", passwords["node-f1-e"],
                   client_id=edge_client_id(SITE.site.id, "node-b1-w"))
    assert wrong.connack[0] != 0
    for c in (anonymous, wrong):
        c.close()
    link = EdgeLink(SITE.site.id, "node-b1-w", BrokerConfig(port=server.port, username="node-b1-w",
                                                            password="not-the-password"), Outbox(None))
    link.start()
    try:
        assert not link.wait_connected(3)
        deadline = time.monotonic() + 10
        while link.fatal is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert isinstance(link.fatal, BrokerRefused)  # refused credentials: the node stops, it does not hammer
    finally:
        link.stop()


def test_a_node_publishes_only_under_its_own_prefix_and_reads_only_its_own_acks(broker):
    server, auth = broker
    ingest = Client(server.port, INGEST_USER, auth.passwords[INGEST_USER], client_id=INGEST_USER)
    ingest.c.subscribe(f"{ROOT}/#", qos=1)
    node_a = Client(server.port, "node-b1-w", auth.passwords["node-b1-w"],
                    client_id=edge_client_id(SITE.site.id, "node-b1-w"))
    assert node_a.subscribe(f"{ROOT}/+/ack") >= 0x80  # every node's acks: refused at SUBSCRIBE
    assert node_a.subscribe(f"{ROOT}/node-b1-w/ack") == 1  # its own
    time.sleep(0.5)
    node_a.publish(f"{ROOT}/node-b1-w/crossing/cam-e-park-west")  # its own: delivered
    node_a.publish(f"{ROOT}/node-b1-w/state")
    node_a.publish(f"{ROOT}/node-f1-e/crossing/cam-e-east")  # another node's prefix: refused by the broker
    node_a.publish(f"{ROOT}/node-f1-e/state")
    node_a.publish(f"{ROOT}/node-b1-w/ack")  # a node may not forge its own commit reports either
    ingest.publish(f"{ROOT}/node-b1-w/ack")  # ingest writes acks: node A reads its own ...
    ingest.publish(f"{ROOT}/node-f1-e/ack")  # ... and not node B's
    time.sleep(1.0)
    assert sorted(t for t in ingest.messages if not t.endswith("/ack")) == [
        f"{ROOT}/node-b1-w/crossing/cam-e-park-west", f"{ROOT}/node-b1-w/state"]
    assert node_a.messages == [f"{ROOT}/node-b1-w/ack"]
    for c in (ingest, node_a):
        c.close()


def test_password_hashes_are_the_dynamic_security_plugins_pbkdf2_fields():
    salt = bytes(range(12))
    fields = hash_password("secret", salt)
    assert fields["salt"] == "AAECAwQFBgcICQoL" and fields["iterations"] == 101
    assert len(base64.b64decode(fields["password"])) == 64  # SHA-512: the plugin refuses other lengths
    assert fields != hash_password("other", salt)


def test_running_it_again_keeps_passwords_unless_asked_to_rotate(tmp_path):
    first = write_broker_auth(tmp_path, [SITE])
    assert write_broker_auth(tmp_path, [SITE]).passwords == first.passwords
    rotated = write_broker_auth(tmp_path, [SITE], rotate=True).passwords
    assert all(rotated[u] != first.passwords[u] for u in first.passwords)
    assert (tmp_path / "secrets").stat().st_mode & 0o077 == 0
    assert set(first.passwords) == {INGEST_USER, *SITE.nodes}
