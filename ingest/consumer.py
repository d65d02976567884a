"""The ingest service: MQTT in, validated batches to the database, acknowledgement only after commit.

Messages are received with manual acknowledgement on a persistent session. The writer thread decodes them against
the contract, collects a flush (by size or time), writes it in one transaction (:func:`ingest.writer.write_flush`)
and only then acknowledges each message to the broker, in the order received. Anything that fails validation is
written to ``dead_letter`` with a reason. If the database is down nothing is acknowledged; the flush is retried
with back-off and the broker holds the rest (its in-flight window bounds our memory). If the database refuses a
flush because of its content (:data:`ingest.writer.CONTENT_ERRORS`), its messages are written one by one, each in
its own transaction, and one refused again becomes a ``write_failed`` dead letter: a poison message delays ingest,
it never stops it.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from psycopg_pool import ConnectionPool

from edge.publisher import BrokerConfig
from ingest import rollups
from ingest.dead_letters import DeadLetterLimits
from ingest.policies import StoragePolicy, enforce_retention
from ingest.validation import Rejected, Validator
from ingest.writer import (
    CONTENT_ERRORS,
    SEQ_CONFLICT,
    WRITE_FAILED,
    DeadLetter,
    FlushResult,
    ms_to_dt,
    write_flush,
)
from mallsense.broker_auth import INGEST_USER
from mallsense.contract import (
    CommitAck,
    ContractError,
    DataTopic,
    NodeState,
    ack_topic,
    check_id,
    encode,
    parse_topic,
    subscription,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class IngestConfig:
    """Settings of one ingest worker.

    Args:
        flush_obs: observations per database transaction; larger is faster, smaller lowers latency.
        flush_interval_s: longest a received message waits before its flush.
        shared_group: MQTT shared-subscription group; several workers with one group split the stream.
        client_id: the MQTT client id (persistent session); None: the login's user name, which is what the broker
            of ``mallsense broker-auth`` requires (``mallsense-ingest``, ``mallsense-ingest-2``, …), else
            ``mallsense-ingest``.
    """

    dsn: str
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    site: str = "+"
    client_id: str | None = None
    shared_group: str | None = None
    flush_obs: int = 20_000
    flush_interval_s: float = 0.25
    max_future_s: float = 24 * 3600
    rollup_interval_s: float = 30.0
    policy: StoragePolicy | None = None  # retention enforced hourly by this worker (TimescaleDB: dead letters only)
    retention_interval_s: float = 3600.0
    dead_letters: DeadLetterLimits = field(default_factory=DeadLetterLimits)  # payload cap and per-node budget


@dataclass
class IngestStats:
    messages: int = 0
    new_batches: int = 0
    duplicate_batches: int = 0
    rows: int = 0
    dead_letters: int = 0
    flushes: int = 0
    db_errors: int = 0
    last_flush_at: float | None = None
    lag_s: float = 0.0  # receive-time minus the newest batch's ``sent`` in the last flush
    dead_by_reason: dict[str, int] = field(default_factory=dict)
    rows_by_table: dict[str, int] = field(default_factory=dict)
    seq_conflicts: dict[tuple[str, str], int] = field(default_factory=dict)  # (site, sensor) -> seq_conflict letters
    isolated_flushes: int = 0  # flushes the database refused on their content, then written message by message


@dataclass(slots=True)
class _Decoded:
    """A received message after validation: what to write (a batch, a node state, or None for a cleared state), or
    its dead letter and the batch key to report settled."""

    value: object | None
    dead: DeadLetter | None = None
    dead_key: tuple[str, str, str, int, str | None] | None = None


def _split(decoded: list[_Decoded]) -> tuple[list, list[NodeState], list[DeadLetter], list]:
    """(batches, states, dead letters, batch keys of the dead letters) of a flush, in message order."""
    batches, states, dead, dead_keys = [], [], [], []
    for d in decoded:
        if d.dead is not None:
            dead.append(d.dead)
            if d.dead_key is not None:
                dead_keys.append(d.dead_key)
        elif isinstance(d.value, NodeState):
            states.append(d.value)
        elif d.value is not None:
            batches.append(d.value)
    return batches, states, dead, dead_keys


@dataclass(slots=True)
class _Message:
    mid: int
    qos: int
    topic: str
    payload: bytes
    generation: int


def tune_gc() -> None:
    """Ingest allocates millions of short-lived, acyclic objects per minute: collect cycles far less often.
    Call once in an ingest process (it is process-wide)."""
    gc.freeze()
    gc.set_threshold(200_000, 50, 100)


def batch_key(topic: str, payload: bytes) -> tuple[str, str, str, int, str | None] | None:
    """(site, node, sensor, seq, epoch) of a refused batch when its topic and seq are readable, so the node can stop
    resending it (the dead letter keeps the payload); None when the message does not identify a batch. An epoch
    that is not a valid id is left out (the report then names no epoch)."""
    try:
        parsed = parse_topic(topic)
        head = json.loads(payload) if isinstance(parsed, DataTopic) else None
        seq, epoch = head.get("seq"), head.get("epoch")
    except (ContractError, ValueError, AttributeError, RecursionError):
        return None
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 2**63:
        return None
    if epoch is not None:
        try:
            epoch = check_id(epoch, "epoch")
        except ContractError:
            epoch = None
    return parsed.site, parsed.node, parsed.sensor, seq, epoch


class Ingest:
    """One ingest worker. ``start()`` returns at once; ``stop()`` flushes what it holds and disconnects."""

    def __init__(self, config: IngestConfig, validator: Validator | None = None) -> None:
        self.config = config
        self.validator = validator or Validator(max_future_s=config.max_future_s)
        self.stats = IngestStats()
        self._inbox: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._connected = threading.Event()  # connected and every subscription confirmed
        self._awaiting_subacks: set[int] = set()
        self._generation = 0
        self._timescale = False
        self._stopped = False
        # a small pool: the writer's connection is checked before use and re-established with back-off when the
        # database restarts; the second slot serves housekeeping jobs
        self._pool = ConnectionPool(config.dsn, min_size=1, max_size=2, open=False, name="ingest",
                                    check=ConnectionPool.check_connection, reconnect_timeout=10 * 365 * 86400)
        self._dirty_since: int | None = None  # oldest observation written since the last rollup refresh (ms)
        self._last_rollup = time.monotonic()
        self._last_retention = -math.inf  # first run right after start (monotonic time may start near 0)
        self._client = self._make_client()
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)

    # ------------------------------------------------------------------ MQTT side (paho thread)
    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id or self.config.broker.username or INGEST_USER,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        b = self.config.broker
        if b.username:
            client.username_pw_set(b.username, b.password)
        if b.tls_ca:
            client.tls_set(ca_certs=b.tls_ca)
        client.reconnect_delay_set(int(b.min_backoff_s), int(b.max_backoff_s))
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            log.error("ingest: broker refused connection: %s", reason)
            return
        self._generation += 1
        # connected means subscribed: until the broker confirms every subscription, a message published to a new
        # session would be lost (on_subscribe sets the event; both callbacks run on paho's one network thread)
        self._awaiting_subacks = {client.subscribe(topic_filter, qos=1)[1]
                                  for topic_filter in subscription(self.config.site,
                                                                   shared_group=self.config.shared_group)}
        log.info("ingest connected to %s:%s (session present: %s)", self.config.broker.host,
                 self.config.broker.port, flags.session_present)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            log.error("ingest: the broker refused a subscription (%s): check this login's rights (mallsense "
                      "broker-auth)", ", ".join(refused))
            return
        self._awaiting_subacks.discard(mid)
        if not self._awaiting_subacks:
            self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            log.warning("ingest lost the broker (%s); reconnecting", reason)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put(_Message(msg.mid, msg.qos, msg.topic, bytes(msg.payload), self._generation))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Ingest:
        self._pool.open(wait=True, timeout=30)
        with self._pool.connection() as conn:
            self._timescale = rollups.is_continuous(conn)
        self._client.connect_async(self.config.broker.host, self.config.broker.port,
                                   keepalive=self.config.broker.keepalive)
        self._client.loop_start()
        self._writer.start()
        return self

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """True once connected and every subscription confirmed by the broker (False on timeout)."""
        return self._connected.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def queued(self) -> int:
        """Messages received but not yet written (bounded by the broker's in-flight window)."""
        return self._inbox.qsize()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        self._writer.join(timeout=30)
        self._client.disconnect()
        self._client.loop_stop()
        self._pool.close()

    # ------------------------------------------------------------------ writer thread
    def _write_loop(self) -> None:
        pending: list[_Message] = []
        first_at = 0.0
        pending_obs = 0
        while True:
            timeout = 0.05 if pending else 0.2
            try:
                msg = self._inbox.get(timeout=timeout)
                if not pending:
                    first_at = time.monotonic()
                pending.append(msg)
                pending_obs += max(1, len(msg.payload) // 80)  # cheap size estimate before decoding
            except queue.Empty:
                pass
            due = pending and (
                pending_obs >= self.config.flush_obs
                or time.monotonic() - first_at >= self.config.flush_interval_s
                or self._stop.is_set()
            )
            if due:
                if self._flush(pending):
                    pending, pending_obs = [], 0
                elif self._stop.is_set():
                    return  # database unreachable at shutdown: unacknowledged, the broker keeps them
                else:
                    time.sleep(min(5.0, 0.2 * 2 ** min(self.stats.db_errors, 5)))
            elif self._stop.is_set() and not pending and self._inbox.empty():
                self._refresh_rollups()
                return
            if time.monotonic() - self._last_rollup >= self.config.rollup_interval_s:
                self._refresh_rollups()
            if time.monotonic() - self._last_retention >= self.config.retention_interval_s:
                self._enforce_retention()

    def _maintenance(self, what: str, job: Callable[[psycopg.Connection], T], *, timescale: bool = False) -> T | None:
        """Run a plain-PostgreSQL housekeeping job (``timescale``: one for both modes) in its own transaction;
        failures are logged and retried later."""
        if self._timescale and not timescale:
            return None
        try:
            with self._pool.connection(timeout=5) as conn, conn.transaction():
                return job(conn)
        except psycopg.Error as exc:  # PoolTimeout is one too
            log.warning("ingest: %s failed (%s); will retry", what, exc)
            return None

    def _enforce_retention(self) -> None:
        self._last_retention = time.monotonic()
        if self.config.policy is None:
            return
        policy = self.config.policy
        raw = not self._timescale  # TimescaleDB's own jobs drop raw chunks; dead_letter is purged here in both modes
        deleted = self._maintenance("retention", lambda conn: enforce_retention(conn, policy, raw_tables=raw),
                                    timescale=True)
        if deleted and any(deleted.values()):
            log.info("retention removed %s", ", ".join(f"{n} rows from {t}" for t, n in deleted.items() if n))

    def _report_commits(self, keys: list[tuple[str, str, str, int, str | None]]) -> None:
        """Tell each edge node which of its batches are now stored: written (new or duplicate) or dead-lettered.
        One report per (node, epoch): a node confirms only reports for its own outbox's epoch."""
        by_node: dict[tuple[str, str, str | None], dict[str, list[int]]] = {}
        for site, node, sensor, seq, epoch in keys:
            by_node.setdefault((site, node, epoch), {}).setdefault(sensor, []).append(seq)
        for (site, node, epoch), sensors in by_node.items():
            ack = CommitAck(site=site, node=node, batches=sensors, epoch=epoch)
            self._client.publish(str(ack_topic(site, node)), encode(ack), qos=1)

    def _refresh_rollups(self) -> None:
        """Plain PostgreSQL: recompute the rollup buckets touched since the last refresh (TimescaleDB: no-op)."""
        self._last_rollup = time.monotonic()
        if self._dirty_since is None:
            return
        since = ms_to_dt(self._dirty_since)
        if self._maintenance("rollup refresh", lambda conn: rollups.refresh(conn, since)) is not None:
            self._dirty_since = None

    def _decode(self, m: _Message) -> _Decoded:
        try:
            return _Decoded(self.validator.decode(m.topic, m.payload))
        except Rejected as rej:
            return _Decoded(None, DeadLetter(m.topic, rej.reason, rej.detail, m.payload), batch_key(m.topic, m.payload))

    def _write(self, conn: psycopg.Connection, decoded: list[_Decoded]) -> FlushResult:
        batches, states, dead, _keys = _split(decoded)
        return write_flush(conn, batches, states, dead, self.config.dead_letters)

    def _flush(self, messages: list[_Message]) -> bool:
        decoded = [self._decode(m) for m in messages]
        try:
            with self._pool.connection(timeout=5) as conn, conn.transaction():
                result = self._write(conn, decoded)
        except CONTENT_ERRORS as exc:  # a message the database refuses: find it, the others go on
            self.stats.isolated_flushes += 1
            log.warning("ingest: the database refused a flush of %d messages (%s); writing them one by one",
                        len(messages), exc)
            return self._flush_one_by_one(messages, decoded)
        except psycopg.Error as exc:  # PoolTimeout is one too; the pool replaces broken connections
            self.stats.db_errors += 1
            log.warning("ingest: database write failed (%s); will retry, nothing acknowledged", exc)
            return False
        self._settled(messages, decoded, result)
        self.stats.flushes += 1
        return True

    def _flush_one_by_one(self, messages: list[_Message], decoded: list[_Decoded]) -> bool:
        """Write each message of a refused flush in its own transaction; a message the database refuses again becomes
        a ``write_failed`` dead letter with the database's error. A connection error stops it: what was committed is
        acknowledged and leaves ``messages``, the rest is retried later."""
        done = 0
        try:
            with self._pool.connection(timeout=5) as conn:
                for m, item in zip(messages, decoded, strict=True):
                    try:
                        with conn.transaction():
                            result = self._write(conn, [item])
                    except CONTENT_ERRORS as exc:
                        log.warning("ingest: the database refused the message on %s: %s", m.topic, exc)
                        item = _Decoded(None, DeadLetter(m.topic, WRITE_FAILED, f"{type(exc).__name__}: {exc}",
                                                         m.payload), batch_key(m.topic, m.payload))
                        with conn.transaction():
                            result = self._write(conn, [item])
                    self._settled([m], [item], result)
                    done += 1
        except (psycopg.Error, *CONTENT_ERRORS) as exc:
            self.stats.db_errors += 1
            log.warning("ingest: database write failed (%s); %d of %d messages written, will retry the rest",
                        exc, done, len(messages))
            del messages[:done]
            return False
        self.stats.flushes += 1
        return True

    def _settled(self, messages: list[_Message], decoded: list[_Decoded], result: FlushResult) -> None:
        """After the commit holding ``messages``: report their batches to the nodes, acknowledge them, count them."""
        batches, _states, dead, dead_keys = _split(decoded)
        self._report_commits([(b.site, b.node, b.sensor, b.seq, b.epoch) for b in batches] + dead_keys)
        # plain PostgreSQL only: remember the oldest time written, for the rollup refresh (continuous aggregates
        # on TimescaleDB track this themselves)
        oldest = None if self._timescale else min((min(o.ts for o in b.obs) for b in batches if b.obs), default=None)
        if oldest is not None:
            self._dirty_since = oldest if self._dirty_since is None else min(self._dirty_since, oldest)
        gen = self._generation
        for m in messages:
            if m.qos > 0 and m.generation == gen:  # older generations: the broker redelivers them anyway
                self._client.ack(m.mid, m.qos)
        s = self.stats
        s.messages += len(messages)
        s.new_batches += result.new_batches
        s.duplicate_batches += result.duplicate_batches
        s.rows += sum(result.rows.values())
        s.dead_letters += result.dead_letters
        for d in dead:
            s.dead_by_reason[d.reason] = s.dead_by_reason.get(d.reason, 0) + 1
        for (site, sensor), n in result.conflicts.items():
            s.seq_conflicts[(site, sensor)] = s.seq_conflicts.get((site, sensor), 0) + n
            s.dead_by_reason[SEQ_CONFLICT] = s.dead_by_reason.get(SEQ_CONFLICT, 0) + n
            log.warning("ingest: %d batches of %s/%s reuse a stored seq with other content (its sequence restarted "
                        "without a new epoch): dead-lettered as %s", n, site, sensor, SEQ_CONFLICT)
        for table, n in result.rows.items():
            s.rows_by_table[table] = s.rows_by_table.get(table, 0) + n
        s.last_flush_at = time.time()
        if batches:
            s.lag_s = max(0.0, s.last_flush_at - max(b.sent for b in batches) / 1000)
