"""The broker with the tool's password file and ACL: no anonymous clients, each edge node confined to its topics."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.outbox import Outbox
from edge.publisher import BrokerConfig, BrokerRefused, EdgeLink
from mallsense.broker_auth import INGEST_USER, hash_password, write_broker_auth
from mallsense.services import MosquittoServer
from mallsense.site import load_site

pytestmark = pytest.mark.integration
SITE = load_site()
ROOT = f"mallsense/v1/{SITE.site.id}"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MosquittoServer, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("broker")
    auth = write_broker_auth(folder / "auth", [SITE])
    server = MosquittoServer(folder / "mqtt", auth=auth).start()
    yield server, auth.passwords
    server.stop()


class Client:
    """A paho client that records CONNACK and messages."""

    def __init__(self, port: int, user: str | None = None, password: str | None = None) -> None:
        self.messages: list[str] = []
        self.connack: list[int] = []
        self.ready = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if user is not None:
            self.c.username_pw_set(user, password)
        self.c.on_connect = lambda c, u, f, rc, p: (self.connack.append(rc.value), self.ready.set())
        self.c.on_message = lambda c, u, m: self.messages.append(m.topic)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert self.ready.wait(10)

    def publish(self, topic: str) -> None:
        self.c.publish(topic, b"{}", qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_anonymous_and_wrong_passwords_are_refused(broker):
    server, passwords = broker
    anonymous = Client(server.port)
    assert anonymous.connack[0] != 0  # Not authorized
    wrong = Client(server.port, "node-b1-w", passwords["node-f1-e"])
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
    server, passwords = broker
    ingest = Client(server.port, INGEST_USER, passwords[INGEST_USER])
    ingest.c.subscribe(f"{ROOT}/#", qos=1)
    node_a = Client(server.port, "node-b1-w", passwords["node-b1-w"])
    node_a.c.subscribe(f"{ROOT}/+/ack", qos=1)  # tries to read every node's acks
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


def test_password_hashes_are_mosquittos_pbkdf2_format():
    salt = bytes(range(12))
    assert hash_password("secret", salt).startswith("$7$101$AAECAwQFBgcICQoL$")
    assert hash_password("secret", salt) != hash_password("other", salt)


def test_running_it_again_keeps_passwords_unless_asked_to_rotate(tmp_path):
    first = write_broker_auth(tmp_path, [SITE])
    assert write_broker_auth(tmp_path, [SITE]).passwords == first.passwords
    rotated = write_broker_auth(tmp_path, [SITE], rotate=True).passwords
    assert all(rotated[u] != first.passwords[u] for u in first.passwords)
    assert (tmp_path / "secrets").stat().st_mode & 0o077 == 0
    assert set(first.passwords) == {INGEST_USER, *SITE.nodes}
