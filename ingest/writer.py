"""Writes accepted batches, node states and dead letters to the database in one transaction per flush.

Idempotency: a batch is identified by ``(site, sensor, seq, epoch)`` (epoch '' when the batch has none). Batch
headers are staged with COPY and inserted into ``ingest_batch`` with ``ON CONFLICT DO NOTHING RETURNING``; only the
observations of batches that were new in this transaction are copied into the observation tables. A redelivered batch
therefore adds nothing. Each header carries a digest of the batch's content: a batch whose key is taken by a batch
with another digest is not a redelivery but a restarted sequence, and becomes a ``seq_conflict`` dead letter (with
both digests in its detail) instead of vanishing as a duplicate. Rows without a digest (stored before digests) match
anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from ingest.dead_letters import DEFAULT_LIMITS, DeadLetter, DeadLetterLimits, write_dead_letters
from mallsense.contract import Kind, NodeState, data_topic, encode

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SEQ_CONFLICT = "seq_conflict"  # dead-letter reason: a batch key already stored with other content
WRITE_FAILED = "write_failed"  # dead-letter reason: the database refused a message that passed validation
# Failures caused by what is written, not by the database being away, so the same message fails again on retry:
# SQLSTATE class 22 (data exception: NUL in jsonb, a number out of range) and 23 (integrity: a CHECK), and values
# the client cannot encode (json.dumps refusing NaN, an int beyond int8). Anything else (connection loss, a missing
# table or privilege: the same for every message) is retried with nothing acknowledged.
CONTENT_ERRORS = (psycopg.DataError, psycopg.IntegrityError, ValueError, OverflowError)


def ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# table, columns, row builder per observation kind
_HEAD = ["timestamptz", "text", "text", "int8"]  # ts, site, sensor, seq
_COLUMNS: dict[Kind, tuple[str, str, list[str]]] = {  # table, columns, binary COPY types
    Kind.CROSSING: ("crossing", "ts, site, sensor, seq, line, direction, track", [*_HEAD, "text", "text", "int8"]),
    Kind.OCCUPANCY: ("occupancy", "ts, site, sensor, seq, zone, count", [*_HEAD, "text", "int4"]),
    Kind.POSITION: ("track_position", "ts, site, sensor, seq, track, floor, x, y",
                    [*_HEAD, "int8", "text", "float4", "float4"]),
    Kind.WIFI: ("wifi_sighting", "ts, site, sensor, seq, dev, rssi, randomized, channel, seqno, fingerprint",
                [*_HEAD, "text", "int2", "bool", "int2", "int4", "text"]),
    Kind.WIFI_COUNT: ("wifi_count", "ts, site, sensor, seq, interval_s, probes, keys, randomized_keys, devices,"
                      " fixtures, people", [*_HEAD, "int4", "int4", "int4", "int4", "float4", "int4", "float4"]),
    Kind.BLE: ("ble_sighting", "ts, site, sensor, seq, dev, rssi, tx_power, frame",
               [*_HEAD, "text", "int2", "int2", "text"]),
    Kind.ZONE: ("zone_event", "ts, site, sensor, seq, dev, zone, event, dwell_s",
                [*_HEAD, "text", "text", "text", "float4"]),
}


def _rows(batch) -> Iterable[tuple]:
    head = (batch.site, batch.sensor, batch.seq)
    kind = batch.kind
    if kind is Kind.CROSSING:
        return ((ms_to_dt(o.ts), *head, o.line, o.dir, o.track) for o in batch.obs)
    if kind is Kind.OCCUPANCY:
        return ((ms_to_dt(o.ts), *head, o.zone, o.count) for o in batch.obs)
    if kind is Kind.POSITION:
        return ((ms_to_dt(o.ts), *head, o.track, o.floor, o.x, o.y) for o in batch.obs)
    if kind is Kind.WIFI:
        return ((ms_to_dt(o.ts), *head, o.dev, o.rssi, o.rand, o.ch, o.sn, o.fp) for o in batch.obs)
    if kind is Kind.WIFI_COUNT:
        return ((ms_to_dt(o.ts), *head, o.interval_s, o.probes, o.keys, o.randomized_keys, o.devices, o.fixtures,
                 o.people) for o in batch.obs)
    if kind is Kind.BLE:
        return ((ms_to_dt(o.ts), *head, o.dev, o.rssi, o.tx, o.frame) for o in batch.obs)
    if kind is Kind.ZONE:
        return ((ms_to_dt(o.ts), *head, o.dev, o.zone, o.event, o.dwell_s) for o in batch.obs)
    raise ValueError(f"no table for kind {kind}")


def batch_digest(batch) -> bytes:
    """blake2b-128 of the batch's canonical encoding: the same for a redelivery, whatever its JSON layout."""
    return hashlib.blake2b(encode(batch), digest_size=16).digest()


def _conflict(batch, stored: bytes, received: bytes) -> DeadLetter:
    epoch = f" epoch {batch.epoch}" if batch.epoch else " (no epoch)"
    detail = (f"{batch.site}/{batch.sensor} seq {batch.seq}{epoch} is stored with other content:"
              f" stored digest {stored.hex()}, received digest {received.hex()}")
    return DeadLetter(str(data_topic(batch.site, batch.node, batch.kind, batch.sensor)), SEQ_CONFLICT, detail,
                      encode(batch))


@dataclass
class FlushResult:
    new_batches: int = 0
    duplicate_batches: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    dead_payloads_over_budget: int = 0  # dead letters stored without their payload (the node's budget was spent)
    states: int = 0
    conflicts: dict[tuple[str, str], int] = field(default_factory=dict)  # (site, sensor) -> seq_conflict letters


def write_flush(
    conn: psycopg.Connection,
    batches: Sequence,
    states: Sequence[NodeState],
    dead: Sequence[DeadLetter],
    dead_limits: DeadLetterLimits = DEFAULT_LIMITS,
) -> FlushResult:
    """Write one flush atomically (the caller commits and only then acknowledges the messages)."""
    result = FlushResult(dead_letters=len(dead), states=len(states))
    unique: dict[tuple[str, str, int, str], tuple[object, bytes]] = {}  # key -> (first batch, its digest)
    again: list[tuple[tuple[str, str, int, str], object, bytes]] = []  # later batches of this flush under a key
    for b in batches:
        key, digest = (b.site, b.sensor, b.seq, b.epoch or ""), batch_digest(b)
        if key in unique:
            again.append((key, b, digest))
        else:
            unique[key] = (b, digest)
    conflicts: list[DeadLetter] = []
    with conn.cursor() as cur:
        new_keys: set[tuple[str, str, int, str]] = set()
        if unique:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS stage_batch (site text, sensor text, seq bigint, epoch text,"
                " kind text, node text, sent timestamptz, n_obs integer, digest bytea) ON COMMIT DELETE ROWS"
            )
            with cur.copy("COPY stage_batch (site, sensor, seq, epoch, kind, node, sent, n_obs, digest)"
                          " FROM STDIN") as copy:
                for (_site, _sensor, _seq, epoch), (b, digest) in unique.items():
                    copy.write_row((b.site, b.sensor, b.seq, epoch, b.kind.value, b.node, ms_to_dt(b.sent),
                                    len(b.obs), digest))
            cur.execute(
                "INSERT INTO ingest_batch (site, sensor, seq, epoch, kind, node, sent, n_obs, digest)"
                " SELECT site, sensor, seq, epoch, kind, node, sent, n_obs, digest FROM stage_batch"
                " ON CONFLICT DO NOTHING RETURNING site, sensor, seq, epoch"
            )
            new_keys = {(r[0], r[1], r[2], r[3]) for r in cur.fetchall()}
            result.new_batches = len(new_keys)
            stored: dict[tuple[str, str, int, str], bytes | None] = {}  # keys stored with another digest (or none)
            if len(new_keys) < len(unique):
                cur.execute(
                    "SELECT s.site, s.sensor, s.seq, s.epoch, b.digest FROM stage_batch s"
                    " JOIN ingest_batch b USING (site, sensor, seq, epoch) WHERE b.digest IS DISTINCT FROM s.digest"
                )
                stored = {(r[0], r[1], r[2], r[3]): r[4] for r in cur.fetchall()}
            versions = [(b, stored.get(key), digest) for key, (b, digest) in unique.items()]
            versions += [(b, stored.get(key, unique[key][1]), digest) for key, b, digest in again]
            for b, theirs, digest in versions:
                if theirs is not None and theirs != digest:  # None: stored before digests, taken as the same
                    conflicts.append(_conflict(b, theirs, digest))
                    result.conflicts[(b.site, b.sensor)] = result.conflicts.get((b.site, b.sensor), 0) + 1
            result.duplicate_batches = len(unique) - len(new_keys) + len(again) - len(conflicts)
            result.dead_letters += len(conflicts)
            dead = [*dead, *conflicts]
            by_kind: dict[Kind, list] = {}
            for key, (b, _digest) in unique.items():
                if key in new_keys:
                    by_kind.setdefault(b.kind, []).append(b)
            for kind, group in by_kind.items():
                table, cols, types = _COLUMNS[kind]
                n = 0
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(types)
                    for b in group:
                        for row in _rows(b):
                            copy.write_row(row)
                            n += 1
                result.rows[table] = n
        for s in states:
            cur.execute(
                "INSERT INTO node_state (site, node, status, ts, health, received) VALUES (%s, %s, %s, %s, %s, now())"
                " ON CONFLICT (site, node) DO UPDATE SET status = excluded.status, ts = excluded.ts,"
                " health = COALESCE(excluded.health, node_state.health), received = now()"
                " WHERE node_state.ts <= excluded.ts",
                (s.site, s.node, s.status, ms_to_dt(s.ts),
                 json.dumps(s.health.model_dump(), allow_nan=False) if s.health else None),
            )
        if dead:
            result.dead_payloads_over_budget = write_dead_letters(cur, dead, dead_limits)
    return result
