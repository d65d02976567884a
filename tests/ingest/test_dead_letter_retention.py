"""Dead letters keep raw payloads only as long as device rows may be kept, and only up to a per-node budget."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.publisher import BrokerConfig
from ingest.consumer import Ingest, IngestConfig
from ingest.dead_letters import DeadLetter, DeadLetterLimits, source
from ingest.policies import StoragePolicy, enforce_retention
from ingest.storage import _migrations, migrate
from ingest.writer import write_flush

pytestmark = pytest.mark.integration
MIB = 1 << 20
KEYED = b'{"v":1,"kind":"wifi","obs":[{"dev":"3f9a0c5e2b7d4410a8c1e6f2d9b3a507"}]}'  # a refused batch with a device key


def topic(node: str) -> str:
    return f"mallsense/v1/demo/{node}/wifi/w-1"


def letters(node: str, n: int, size: int) -> list[DeadLetter]:
    """n distinct payloads of ``size`` bytes (distinct so that each hash is checked)."""
    return [DeadLetter(topic(node), "oversized", f"{size} bytes", ((b"%06d" % i) * (size // 6 + 1))[:size])
            for i in range(n)]


def backdate(conn: psycopg.Connection, ids: list[int], age: timedelta) -> None:
    conn.execute("UPDATE dead_letter SET received = now() - %s WHERE id = ANY(%s)", (age, ids))


def test_old_payloads_go_with_device_rows_and_old_letters_go_later(db_dsn):
    ages = [timedelta(hours=1), timedelta(days=3), timedelta(days=100)]
    with psycopg.connect(db_dsn) as conn:
        write_flush(conn, [], [], [DeadLetter(topic("node-1"), "schema", f"letter {i}", KEYED) for i in range(3)])
        ids = [r[0] for r in conn.execute("SELECT id FROM dead_letter ORDER BY id")]
        for i, age in zip(ids, ages, strict=True):
            backdate(conn, [i], age)
        conn.execute("INSERT INTO wifi_sighting (ts, site, sensor, seq, dev, rssi, randomized)"
                     " VALUES (now() - interval '3 days', 'demo', 'w-1', 0, 'ab', -50, true)")

        # pseudonymous, device rows kept 31 days: the 3-day-old payload may stay; the 100-day-old letter goes
        relaxed = StoragePolicy.for_privacy(30, wifi_sighting=60, ble_sighting=60)
        assert relaxed.dead_letter_payload_days == 31
        assert enforce_retention(conn, relaxed, raw_tables=False) == {"dead_letter payloads": 0, "dead_letter": 1}

        # strict: device rows 2 days; on TimescaleDB (raw_tables=False) the dead letters are purged all the same
        deleted = enforce_retention(conn, StoragePolicy.for_privacy(1), raw_tables=False)
        assert deleted == {"dead_letter payloads": 1, "dead_letter": 0}
        assert conn.execute("SELECT count(*) FROM wifi_sighting").fetchone()[0] == 1  # the jobs' business there
        rows = conn.execute("SELECT id, detail, topic, site, node, payload, payload_bytes, payload_sha256,"
                            " payload_kept FROM dead_letter ORDER BY id").fetchall()
    digest = hashlib.sha256(KEYED).digest()
    assert rows == [
        (ids[0], "letter 0", topic("node-1"), "demo", "node-1", KEYED, len(KEYED), digest, "whole"),
        (ids[1], "letter 1", topic("node-1"), "demo", "node-1", None, len(KEYED), digest, "expired"),
    ]


def test_a_flooding_node_stores_only_its_budget_and_every_letter_is_recorded(db_dsn):
    limits = DeadLetterLimits(payload_cap=64 * 1024, node_budget=256 * 1024, budget_window=timedelta(hours=1))
    flood = letters("node-1", 20, MIB)
    other = letters("node-2", 1, MIB)
    with psycopg.connect(db_dsn) as conn:
        first = write_flush(conn, [], [], flood[:3] + other, limits)
        conn.commit()
        second = write_flush(conn, [], [], flood[3:], limits)  # the budget spent by the first flush counts
        conn.commit()
        rows = conn.execute("SELECT node, payload, payload_bytes, payload_sha256, payload_kept FROM dead_letter"
                            " ORDER BY id").fetchall()
        assert (first.dead_payloads_over_budget, second.dead_payloads_over_budget) == (0, 16)

        # the window rolls: once node-1's stored letters are older than it, node-1 may store again
        backdate(conn, [r[0] for r in conn.execute("SELECT id FROM dead_letter")], timedelta(hours=2))
        third = write_flush(conn, [], [], letters("node-1", 1, 100), limits)
        assert third.dead_payloads_over_budget == 0
        assert conn.execute("SELECT payload_kept FROM dead_letter ORDER BY id DESC LIMIT 1").fetchone()[0] == "whole"

    sent = flood[:3] + other + flood[3:]
    assert len(rows) == len(sent)
    for (node, payload, size, digest, _), d in zip(rows, sent, strict=True):
        assert (node, size, bytes(digest)) == (source(d.topic)[1], MIB, hashlib.sha256(d.payload).digest())
        assert payload is None or bytes(payload) == d.payload[:64 * 1024]
    kept = {(node, state): 0 for node in ("node-1", "node-2") for state in ("truncated", "over_budget")}
    for node, _, _, _, state in rows:
        kept[node, state] += 1
    assert kept == {("node-1", "truncated"): 4, ("node-1", "over_budget"): 16,
                    ("node-2", "truncated"): 1, ("node-2", "over_budget"): 0}
    assert sum(len(p) for n, p, *_ in rows if n == "node-1" and p is not None) == 256 * 1024


def test_migration_describes_the_letters_already_stored(empty_db_dsn):
    """Rows written before 009 get the same site/node as the writer computes, their size and hash."""
    old = [("mallsense/v1/demo/node-1/wifi/w-1", KEYED), ("mallsense/v1/mall-b/n-9/state", b""),
           ("elsewhere/x/y", b"\x00\xff"), ("mallsense/v1/short", b"x"), ("", b"")]
    with psycopg.connect(empty_db_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_migration (name text PRIMARY KEY, applied timestamptz DEFAULT now())")
        for name, sql in _migrations():
            if name < "009":
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migration (name) VALUES (%s)", (name,))
        for t, payload in old:
            conn.execute("INSERT INTO dead_letter (topic, reason, detail, payload) VALUES (%s, 'schema', '', %s)",
                         (t, payload))
    assert "009_dead_letter_retention" in migrate(empty_db_dsn).applied
    with psycopg.connect(empty_db_dsn) as conn:
        rows = conn.execute("SELECT site, node, payload_bytes, payload_sha256, payload_kept FROM dead_letter"
                            " ORDER BY id").fetchall()
    assert rows == [(*source(t), len(p), hashlib.sha256(p).digest(), "whole") for t, p in old]


def test_on_timescaledb_the_worker_still_purges_dead_letters(db_dsn):
    """TimescaleDB's jobs drop raw chunks, but dead_letter is a plain table: the worker's hourly job covers it."""
    with psycopg.connect(db_dsn) as conn:
        write_flush(conn, [], [], [DeadLetter(topic("node-1"), "schema", "old", KEYED)])
        conn.execute("UPDATE dead_letter SET received = now() - interval '5 days'")
        conn.execute("INSERT INTO wifi_sighting (ts, site, sensor, seq, dev, rssi, randomized)"
                     " VALUES (now() - interval '5 days', 'demo', 'w-1', 0, 'ab', -50, true)")
    ingest = Ingest(IngestConfig(dsn=db_dsn, policy=StoragePolicy.for_privacy(1)))
    ingest._pool.open(wait=True, timeout=10)
    try:
        ingest._timescale = True  # what start() finds where the rollups are continuous aggregates
        ingest._enforce_retention()
    finally:
        ingest._pool.close()
    assert expired(db_dsn) == 1
    with psycopg.connect(db_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM wifi_sighting").fetchone()[0] == 1  # left to TimescaleDB's job


def expired(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM dead_letter WHERE payload_kept = 'expired'").fetchone()[0]


def test_live_ingest_caps_a_flood_and_purges_old_payloads(db_dsn, mqtt_server):
    policy = StoragePolicy.for_privacy(1)
    with psycopg.connect(db_dsn) as conn:
        write_flush(conn, [], [], [DeadLetter(topic("node-1"), "schema", "old", KEYED)])
        conn.execute("UPDATE dead_letter SET received = now() - interval '5 days'")
    config = IngestConfig(dsn=db_dsn, broker=BrokerConfig(port=mqtt_server.port), client_id="dead-letter-budget",
                          policy=policy, retention_interval_s=1.0,
                          dead_letters=DeadLetterLimits(payload_cap=1024, node_budget=4096))
    ingest = Ingest(config).start()
    try:
        assert ingest.wait_connected()
        raw = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="flooder")
        raw.connect("127.0.0.1", mqtt_server.port)
        raw.loop_start()
        big = b"x" * 600_000  # over the contract's 512 KiB: refused as 'oversized'
        for node, n in (("node-1", 8), ("node-2", 1)):
            for _ in range(n):
                raw.publish(topic(node), big, qos=1).wait_for_publish(5)
        raw.loop_stop()
        raw.disconnect()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (ingest.stats.dead_letters == 9 and expired(db_dsn) == 1):
            time.sleep(0.05)
    finally:
        ingest.stop()
    with psycopg.connect(db_dsn) as conn:
        got = conn.execute("SELECT node, reason, payload_kept, count(*), sum(octet_length(payload)),"
                           " min(payload_bytes) FROM dead_letter GROUP BY 1, 2, 3 ORDER BY 1, 2, 3").fetchall()
    assert got == [("node-1", "oversized", "over_budget", 4, None, 600_000),
                   ("node-1", "oversized", "truncated", 4, 4096, 600_000),
                   ("node-1", "schema", "expired", 1, None, len(KEYED)),  # purged by the worker's retention run
                   ("node-2", "oversized", "truncated", 1, 1024, 600_000)]
