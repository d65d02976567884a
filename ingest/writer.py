"""Writes accepted batches, node states and dead letters to the database in one transaction per flush.

Idempotency: a batch is identified by ``(site, sensor, seq)``. Batch headers are staged with COPY and inserted into
``ingest_batch`` with ``ON CONFLICT DO NOTHING RETURNING``; only the observations of batches that were new in this
transaction are copied into the observation tables. A redelivered batch therefore adds nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from mallsense.contract import Kind, NodeState

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL; anything from the wire may."""
    return value.replace("\x00", "\\x00")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    reason: str
    detail: str
    payload: bytes


@dataclass
class FlushResult:
    new_batches: int = 0
    duplicate_batches: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    states: int = 0


def write_flush(
    conn: psycopg.Connection,
    batches: Sequence,
    states: Sequence[NodeState],
    dead: Sequence[DeadLetter],
) -> FlushResult:
    """Write one flush atomically (the caller commits and only then acknowledges the messages)."""
    result = FlushResult(dead_letters=len(dead), states=len(states))
    unique: dict[tuple[str, str, int], object] = {}
    for b in batches:
        unique.setdefault((b.site, b.sensor, b.seq), b)
    result.duplicate_batches = len(batches) - len(unique)
    with conn.cursor() as cur:
        new_keys: set[tuple[str, str, int]] = set()
        if unique:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS stage_batch (site text, sensor text, seq bigint, kind text,"
                " node text, sent timestamptz, n_obs integer) ON COMMIT DELETE ROWS"
            )
            with cur.copy("COPY stage_batch (site, sensor, seq, kind, node, sent, n_obs) FROM STDIN") as copy:
                for b in unique.values():
                    copy.write_row((b.site, b.sensor, b.seq, b.kind.value, b.node, ms_to_dt(b.sent), len(b.obs)))
            cur.execute(
                "INSERT INTO ingest_batch (site, sensor, seq, kind, node, sent, n_obs)"
                " SELECT site, sensor, seq, kind, node, sent, n_obs FROM stage_batch"
                " ON CONFLICT DO NOTHING RETURNING site, sensor, seq"
            )
            new_keys = {(r[0], r[1], r[2]) for r in cur.fetchall()}
            result.new_batches = len(new_keys)
            result.duplicate_batches += len(unique) - len(new_keys)
            by_kind: dict[Kind, list] = {}
            for key, b in unique.items():
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
                 json.dumps(s.health.model_dump()) if s.health else None),
            )
        if dead:
            with cur.copy("COPY dead_letter (topic, reason, detail, payload) FROM STDIN") as copy:
                for d in dead:
                    copy.write_row((_text(d.topic), _text(d.reason), _text(d.detail), d.payload))
    return result
