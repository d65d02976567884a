"""MQTT over TLS with authentication, as deployed: an edge node publishes over mqtts:// and ingest writes the batch;
a client without TLS, or one that does not trust the broker's CA, gets nowhere."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.batching import SensorStream
from edge.outbox import Outbox
from edge.publisher import BrokerConfig, EdgeLink
from ingest.consumer import Ingest, IngestConfig
from ingest.validation import Validator
from mallsense.broker_auth import INGEST_USER, edge_client_id, write_broker_auth
from mallsense.contract import Kind, OccupancyObs
from mallsense.services import BrokerTls, MosquittoServer
from mallsense.settings import broker_from_url
from mallsense.site import load_site

pytestmark = pytest.mark.integration
SITE = load_site()


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=folder)
    return folder / "ca.crt", folder / "ca.key"


def make_server_cert(folder: Path) -> tuple[Path, Path]:
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
            "-out", "server.csr", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "server.crt", cwd=folder)
    return folder / "server.crt", folder / "server.key"


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test certificates")
    folder = tmp_path_factory.mktemp("tls")
    ca, _ = make_ca(folder / "pki", "mallsense test CA")
    cert, key = make_server_cert(folder / "pki")
    auth = write_broker_auth(folder / "auth", [SITE])
    server = MosquittoServer(folder / "mqtt", auth=auth, tls=BrokerTls(ca, cert, key)).start()
    yield server, auth.passwords, ca, folder
    server.stop()


def connack(port: int, *, tls_ca: Path | None, user: str, password: str) -> str:
    """What a client gets: 'ok', the broker's refusal, or the transport error (a node's login, its client id)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=edge_client_id(SITE.site.id, user))
    client.username_pw_set(user, password)
    if tls_ca is not None:
        client.tls_set(ca_certs=str(tls_ca))
    got: list[str] = []
    client.on_connect = lambda c, u, f, rc, p: got.append("ok" if not rc.is_failure else str(rc))
    try:
        client.connect("127.0.0.1", port, keepalive=5)
    except (ssl.SSLError, OSError) as exc:
        return f"transport: {type(exc).__name__}"
    client.loop_start()
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    client.loop_stop()
    client.disconnect()
    return got[0] if got else "no answer"


def test_the_url_scheme_selects_tls(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("MALLSENSE_MQTT_CA", str(tmp_path / "ca.crt"))
    config = broker_from_url("mqtts://node-f1-w@broker.mall.example")
    assert config.port == 8883 and config.tls_ca == str(tmp_path / "ca.crt") and config.username == "node-f1-w"
    assert broker_from_url("mqtt://broker.mall.example").tls_ca is None


def test_an_edge_node_publishes_over_tls_and_ingest_writes_it(tls_broker, db_dsn):
    server, passwords, ca, _ = tls_broker
    node = "node-f1-w"
    ingest = Ingest(IngestConfig(dsn=db_dsn, broker=BrokerConfig(port=server.port, username=INGEST_USER,
                                                                password=passwords[INGEST_USER], tls_ca=str(ca))),
                    Validator({SITE.site.id: SITE})).start()
    outbox = Outbox(None)
    link = EdgeLink(SITE.site.id, node, BrokerConfig(port=server.port, username=node, password=passwords[node],
                                                      tls_ca=str(ca), min_backoff_s=0.2, max_backoff_s=1),
                    outbox).start()
    try:
        assert ingest.wait_connected() and link.wait_connected(10)
        camera = next(s for s in SITE.sensors if s.node == node and s.kind == "camera" and s.zones)
        stream = SensorStream(outbox, SITE.site.id, node, Kind.OCCUPANCY, camera.id)
        now = int(time.time() * 1000)
        stream.add(OccupancyObs(ts=now, zone=camera.zones[0], count=42))
        stream.flush(now)
        assert link.wait_drained(20), "the batch was not confirmed by ingest over TLS"
    finally:
        link.stop()
        ingest.stop()
    with psycopg.connect(db_dsn) as conn:
        assert conn.execute("SELECT count FROM occupancy WHERE sensor = %s", (camera.id,)).fetchall() == [(42,)]


def test_plain_and_untrusting_clients_get_nowhere(tls_broker):
    server, passwords, ca, folder = tls_broker
    node = "node-f1-w"
    assert connack(server.port, tls_ca=ca, user=node, password=passwords[node]) == "ok"
    assert connack(server.port, tls_ca=ca, user=node, password="wrong") != "ok"
    assert connack(server.port, tls_ca=None, user=node, password=passwords[node]) != "ok"  # plain TCP
    other_ca, _ = make_ca(folder / "other", "someone else")
    answer = connack(server.port, tls_ca=other_ca, user=node, password=passwords[node])
    assert answer.startswith("transport"), answer  # the broker's certificate is not trusted
    log = (server.datadir / "mosquitto.log").read_text(errors="replace")
    assert json.dumps(passwords[node])[1:-1] not in log
