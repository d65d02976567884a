"""One edge node's MQTT link: QoS 1 publishing from the disk outbox, retained state with a last will, back-off.

Batches are written to the :class:`~edge.outbox.Outbox` first and deleted only when the broker acknowledged them
(PUBACK), so a broker outage or a restart of the node loses nothing; redelivery is harmless because ingest is
idempotent on ``(sensor, seq, epoch)``. Commit reports name the epoch they are for; a report for another epoch (say,
a late one for the outbox this node had before its file was replaced) confirms nothing here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge.outbox import Outbox
from mallsense.broker_auth import edge_client_id, edge_login
from mallsense.contract import (
    CameraHealth,
    ContractError,
    NodeHealth,
    NodeState,
    ack_topic,
    decode_ack,
    encode,
    state_topic,
)

log = logging.getLogger(__name__)

_FATAL_CONNACK = {"Bad user name or password", "Not authorized", "Client identifier not valid", "Banned"}


@dataclass(frozen=True)
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_ca: str | None = None
    keepalive: int = 30
    min_backoff_s: float = 1.0
    max_backoff_s: float = 60.0


class BrokerRefused(RuntimeError):
    """The broker refused the credentials: retrying would not help."""


class EdgeLink:
    """Publishes an edge node's outbox over MQTT and keeps its retained state topic current.

    Args:
        site, node: identity of this node (topic levels).
        broker: where and how to connect.
        outbox: the node's disk outbox; batches are removed only after PUBACK.
        max_inflight: unacknowledged QoS 1 messages at once; more throughput vs more redelivery after a crash.
        health_interval_s: how often health is published on the state topic.
        confirm: ``"commit"`` keeps each batch until ingest reports it committed on the node's ack topic (survives
            a broker crash); ``"broker"`` forgets it at the broker's PUBACK (for consumers that send no reports).
        commit_timeout_s: a sent batch with no commit report after this long is published again.
        process: which of the node's processes this link serves (a collector's sensor id), when the node runs its
            collectors as separate processes: it makes the MQTT client id unique per process. Two clients with
            one id take the broker session from each other in a loop (hundreds of reconnects in ten seconds on
            Mosquitto); None for a link that serves the whole node. With a login, the process logs in as
            ``<user>.<process>`` (the node's password; :mod:`mallsense.broker_auth` binds each login to its client id).
    """

    def __init__(
        self,
        site: str,
        node: str,
        broker: BrokerConfig,
        outbox: Outbox,
        *,
        max_inflight: int = 200,
        health_interval_s: float = 10.0,
        confirm: str = "commit",
        commit_timeout_s: float = 30.0,
        process: str | None = None,
    ) -> None:
        if confirm not in ("commit", "broker"):
            raise ValueError("confirm must be 'commit' or 'broker'")
        self.site, self.node, self.broker, self.outbox = site, node, broker, outbox
        self.client_id = edge_client_id(site, node, process)
        self.login = edge_login(broker.username, process) if broker.username else None
        self.confirm = confirm
        self.commit_timeout_s = commit_timeout_s
        self.ack_topic = str(ack_topic(site, node))
        self.confirmed = 0
        self.max_inflight = max_inflight
        self.health_interval_s = health_interval_s
        self.state_topic = str(state_topic(site, node))
        self.published = 0
        self.sensor_last: dict[str, int] = {}
        # camera sensor id -> what reports its load (called from the sender thread at each health report)
        self.cameras: dict[str, Callable[[], CameraHealth]] = {}
        self.fatal: BrokerRefused | None = None
        self._started = time.monotonic()
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        # owned by the sender thread only (paho calls on_publish while holding its own lock, so the callback
        # only wakes the sender): outbox id -> paho's message info, whose is_published() turns true on PUBACK.
        self._inflight: dict[int, mqtt.MQTTMessageInfo] = {}
        self._resend_all = threading.Event()
        self._last_sent_id = 0
        self._client = self._make_client()
        self._sender = threading.Thread(target=self._send_loop, name=f"edge-{node}-sender", daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,  # persistent session: the broker keeps our QoS 1 state across reconnects
            protocol=mqtt.MQTTv311,
        )
        if self.login:
            client.username_pw_set(self.login, self.broker.password)
        if self.broker.tls_ca:
            client.tls_set(ca_certs=self.broker.tls_ca)
        client.will_set(self.state_topic, self._state_payload("offline"), qos=1, retain=True)
        client.reconnect_delay_set(int(self.broker.min_backoff_s), int(self.broker.max_backoff_s))
        client.max_inflight_messages_set(self.max_inflight)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_ack
        return client

    def start(self) -> EdgeLink:
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=self.broker.keepalive)
        self._client.loop_start()
        self._sender.start()
        return self

    def stop(self, *, drain_timeout_s: float = 5.0) -> None:
        """Try to drain the outbox for up to ``drain_timeout_s``, publish 'offline', disconnect."""
        deadline = time.monotonic() + drain_timeout_s
        while self.outbox.depth() and time.monotonic() < deadline and self._connected.is_set():
            self._wake.set()
            time.sleep(0.02)
        self._stop.set()
        self._wake.set()
        self._sender.join(timeout=5)
        if self._connected.is_set():
            info = self._client.publish(self.state_topic, self._state_payload("offline"), qos=1, retain=True)
            info.wait_for_publish(timeout=2)
        self._client.disconnect()
        self._client.loop_stop()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self._connected.wait(timeout)

    def wait_drained(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.fatal:
                raise self.fatal
            if self.outbox.depth() == 0:
                return True
            self._wake.set()
            time.sleep(0.01)
        return False

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def notify(self) -> None:
        """Tell the sender that the outbox has new batches."""
        self._wake.set()

    # ------------------------------------------------------------------ state
    def health(self) -> NodeHealth:
        return NodeHealth(
            uptime_s=round(time.monotonic() - self._started, 1),
            published=self.published,
            outbox_depth=self.outbox.depth(),
            outbox_dropped=self.outbox.dropped,
            sensors=dict(self.sensor_last),
            cameras={sensor: report() for sensor, report in list(self.cameras.items())},
        )

    def _state_payload(self, status: str) -> bytes:
        now = int(time.time() * 1000)
        health = self.health() if status == "online" else None
        return encode(NodeState(site=self.site, node=self.node, status=status, ts=now, health=health))

    def publish_state(self) -> None:
        if self._connected.is_set():
            self._client.publish(self.state_topic, self._state_payload("online"), qos=1, retain=True)

    # ------------------------------------------------------------------ paho callbacks (network thread)
    def _on_connect(self, client, userdata, flags, reason: ReasonCode, properties) -> None:
        if reason.is_failure:
            if str(reason) in _FATAL_CONNACK:
                self.fatal = BrokerRefused(f"broker refused {self.node}: {reason}")
                log.error("%s; not retrying", self.fatal)
                self._stop.set()
                client.disconnect()
            else:
                log.warning("broker refused connection (%s); retrying with back-off", reason)
            return
        log.info("node %s connected to %s:%s", self.node, self.broker.host, self.broker.port)
        if not flags.session_present:
            # the broker forgot our session: send everything still in the outbox again
            self._resend_all.set()
        if self.confirm == "commit":
            client.subscribe(self.ack_topic, qos=1)
        client.publish(self.state_topic, self._state_payload("online"), qos=1, retain=True)
        self._connected.set()
        self._wake.set()

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            log.warning("node %s lost the broker (%s); buffering to the outbox", self.node, reason)

    def _on_publish(self, client, userdata, mid: int, reason, properties) -> None:
        self._wake.set()

    def _on_ack(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            ack = decode_ack(msg.payload)
        except ContractError as exc:
            log.warning("ignoring a malformed commit report on %s: %s", msg.topic, exc)
            return
        if ack.epoch is not None and ack.epoch != self.outbox.epoch:
            return  # another sequence's batches (an outbox this node had before, or another process's)
        for sensor, seqs in ack.batches.items():
            self.confirmed += self.outbox.confirm(sensor, seqs)
        self._wake.set()

    # ------------------------------------------------------------------ sender thread
    def _send_loop(self) -> None:
        last_health = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            try:
                if time.monotonic() - last_health >= self.health_interval_s:
                    self.publish_state()
                    last_health = time.monotonic()
                self._send_pending()
            except Exception:
                log.exception("edge sender of %s failed; retrying", self.node)
                time.sleep(1.0)

    def _send_pending(self) -> None:
        self._settle_acks()
        if self.confirm == "commit":
            lowest = self.outbox.requeue_unconfirmed(time.time() - self.commit_timeout_s)
            if lowest is not None:
                log.warning("node %s: batches without a commit report for %.0f s; publishing them again",
                            self.node, self.commit_timeout_s)
                self._last_sent_id = min(self._last_sent_id, lowest - 1)
        if self._resend_all.is_set():
            self._resend_all.clear()
            self._inflight.clear()
            self._last_sent_id = 0
        while self._connected.is_set() and not self._stop.is_set():
            self._settle_acks()
            room = self.max_inflight - len(self._inflight)
            if room <= 0:
                return
            pending = self.outbox.peek(self._last_sent_id, room)
            if not pending:
                return
            for item in pending:
                info = self._client.publish(item.topic, item.payload, qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    return  # not connected: paho may still send its copy later; ours is resent from the outbox
                self._inflight[item.id] = info
                self._last_sent_id = item.id

    def _settle_acks(self) -> None:
        """Delete acknowledged batches from the outbox; schedule those paho gave up on (connection lost) again."""
        done, lost = [], []
        for box_id, info in self._inflight.items():
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                lost.append(box_id)
            elif info.is_published():
                done.append(box_id)
        for box_id in done + lost:
            del self._inflight[box_id]
        if lost:
            self._last_sent_id = min(self._last_sent_id, min(lost) - 1)
        if done:
            if self.confirm == "commit":
                self.outbox.mark_sent(done)
            else:
                self.outbox.remove(done)
            self.published += len(done)


@dataclass(frozen=True)
class SensorOutbox:
    outbox: Outbox
    link: EdgeLink | None  # None when running offline


@contextmanager
def sensor_outbox(site: str, node: str, broker: BrokerConfig | None, outbox_path: Path | None,
                  stop: threading.Event, *, what: str, process: str | None = None,
                  drain_timeout_s: float = 30.0) -> Iterator[SensorOutbox]:
    """The outbox a sensor runner writes to and, with a broker, the link publishing it (``process``: the runner's
    name among the node's processes, e.g. its sensor id, which makes its MQTT client id its own).

    When the body ends normally the link gets ``drain_timeout_s`` to deliver what is left (the rest stays on disk);
    the link is stopped and the outbox closed in any case.
    """
    outbox = Outbox(outbox_path)
    link = EdgeLink(site, node, broker, outbox, process=process).start() if broker is not None else None
    try:
        yield SensorOutbox(outbox, link)
        if link is not None and not link.wait_drained(timeout=drain_timeout_s):
            log.warning("%s: %d batches still in the outbox (kept on disk)", what, outbox.depth())
    finally:
        if link is not None:
            link.stop(drain_timeout_s=0 if stop.is_set() else 5)
        outbox.close()
